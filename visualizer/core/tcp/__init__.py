"""Sans-I/O TCP tracking: segments in, per-packet analysis and events out."""
