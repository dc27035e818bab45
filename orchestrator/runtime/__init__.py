"""The Ray shells around the core: the only package that imports Ray.

- `spawn`: wiring: creates the supervisor and heartbeat actors and injects their parts;
- `supervisor`: the supervisor actor, owner of the `Scheduler`, executor of its commands;
- `dispatcher`: sends batches to agents and collects their outcomes;
- `wire`: what a batch call carries each way (payloads, outcomes);
- `results`: the result refs the supervisor holds;
- `agent_host`: the actor that hosts one agent replica;
- `heartbeat`: the actor that pings agents and reports their health;
- `cluster`: starting, joining and leaving Ray, and reading the nodes' resources;
- `client`: the driver's typed door to the supervisor;
- `clock`: the wall clock injected into the core.
"""
