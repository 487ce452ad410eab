"""BSS write services: orders (placing, executing, holding for acceptance), subscriptions, provisioning."""
