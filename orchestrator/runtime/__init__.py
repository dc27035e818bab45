"""The Ray shells around the core: the only package that imports Ray.

- `supervisor`: the supervisor actor, owner of the `Scheduler`;
- `agent_host`: the actor that hosts one agent replica;
- `heartbeat`: the actor that pings agents and reports their health;
- `cluster`: starting or joining Ray, and reading the nodes' resources;
- `spawn`: wiring the actors together.
"""
