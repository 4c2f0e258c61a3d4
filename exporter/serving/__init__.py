"""What is served: metric families and both renderers (/metrics), the JSON API and its OpenAPI
document, the status page, the web app. Reads Snapshots only; may import the top-level modules,
`probing`, `stored` and `judgement`, never `running`."""
