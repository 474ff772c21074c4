"""The edge oracle: machine telemetry in, signed usage settled on-chain, lock commands out."""
