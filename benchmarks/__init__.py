"""Side-by-side measurements: the orchestrator against plain Ray and peers."""
