"""The floor every layer stands on: errors and atomic writes, unknown-name messages, verified downloads (assets),
and the git state of the checkout. Imports nothing else of bench."""
