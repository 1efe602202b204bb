"""The mitigation audit: defended media, classical attackers and utility."""
