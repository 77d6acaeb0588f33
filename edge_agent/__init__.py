"""The edge agent on the headset's application processor.

A real-time audio loop through `dsp_c` (`edge_agent.audio`), local emergency-sound detection
(`edge_agent.emergency`), and a control plane that syncs the AWS IoT device shadow, sends
telemetry and events through a durable outbox and talks to the MCU. Entry point: `anc-edge`.
"""
