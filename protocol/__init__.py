"""Shared contracts of the ANC platform: MQTT topics, JSON Schemas, the MCU link, the taxonomy.

This package is the only code and data that several parts import. Keep it dependency-light:
it is used by the edge agent, the Lambdas, the local stack and the provisioning tools.
"""
