"""``startle storm``: a fleet of simulated agents restarting against one mock center, retry
policies compared (the retry-storm benchmark).

One module per concern:

``target``    what the storm takes of the profile: the register route, the center's routes; refusals
``policies``  the agent's own retry module, loaded by path, and the six policies built from it
              (what is retried, Retry-After: the profile's)
``simagent``  one simulated agent's registration loop (no locust, no gevent: testable with a fake clock)
``wire``      a tiny HTTP/1.1 client, one connection per request, like the reference agent
``users``     the locustfile: a locust user per agent, the master's orchestration, records to the master
``modes``     outage / boot / capacity / contention: what each does to the world and when
``metrics``   pandas: attempt records -> per policy and N the figures, and per-second time series
``runner``    the world (labelled center + Toxiproxy containers), locust master + workers, records
``report``    storm.csv, timeseries.csv, plots, storm.html, the terminal table
``cli``       ``startle storm ...`` (``main(argv)``)

Units: seconds unless a name says ``_ms``; times are Unix seconds (float).
"""
