"""The long-running loops that feed probes and Redis into the judgement on schedule: the probe
schedulers, the Redis poller and history keeper, the replicas' shared results, the supervisor
that restarts a loop that stops. May import everything before it: the top-level modules,
`probing`, `stored`, `judgement`."""
