"""docgen: an operations handbook generated from CloudFormation templates."""

__version__ = "0.1.0"
