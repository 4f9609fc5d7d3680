"""The benchmark harness: our server against the insecure classic chat, one command (bench.run)."""
