"""The unattended nightly run: collect, analyse, report, email, prune; the report directory."""
