"""FakeFleep's world model: no HTTP here.

- :mod:`.state`: the entities (accounts, conversations, messages, files, teams, labels, ...)
  and each account's event log.
- :mod:`.world`: the rules that change them (post, edit, add members, ...) and append the
  resulting records to the affected accounts' logs.
- :mod:`.records`: stream records shaped as the real server shapes them, per viewer.
- :mod:`.ids`: seeded entity ids and unseeded secrets. :mod:`.render`: message markup.
"""
