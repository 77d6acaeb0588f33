"""The local stack: Mosquitto with mutual TLS, moto, and an IoT Core emulator (ARCHITECTURE §7)."""
