"""Code shared by the Lambda functions (deployed as the SharedLayer, importable in-process)."""
