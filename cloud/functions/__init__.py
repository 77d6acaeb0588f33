"""Lambda functions: one package per function, `app.lambda_handler` in each."""
