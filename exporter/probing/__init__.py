"""Where probes come from: model-list and inference probes (their dialects and token budget),
Vertex auth, the providers' status pages and the connectivity check. May import the top-level
vocabulary and configuration (settings, catalog, targets, outcomes, states) only."""
