# `coinsuper relay`: the exchange's connections once, republished into an MQTT broker
# that fans them out to any number of consumers. queue.py holds what waits for the
# broker, publisher.py talks to it, sink.py turns upstream messages into what is
# published, status.py counts and reports, command.py wires them to the runner.
