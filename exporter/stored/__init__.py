"""What lives in Redis: the backend's signals (read only), the exporter's window history and the
replicas' membership. May import the top-level modules and `probing`."""
