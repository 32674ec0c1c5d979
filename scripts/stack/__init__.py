"""Local stack for streamops: moto server on 127.0.0.1, resources provisioned from template.yaml
with the names the template gives them, and the functions served by `cargo lambda watch`."""
