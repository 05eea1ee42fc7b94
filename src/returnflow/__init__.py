"""returnflow: a self-hosted after-sales service desk."""

__version__ = "0.1.0"
