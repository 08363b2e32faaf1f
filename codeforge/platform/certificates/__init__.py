"""See docs/certificates.md."""
