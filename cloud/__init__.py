"""The cloud side of the platform: the SAM template's Lambdas (`cloud.functions`), code they
share (`cloud.shared`) and the local AWS IoT stack that runs them on one machine (`cloud.local`).
"""
