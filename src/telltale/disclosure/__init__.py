"""Visual PII audits (MM-Privacy): synthetic identities, form images, framings and scoring."""
