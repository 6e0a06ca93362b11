"""The gRPC server, its configuration, composition root and command line."""
