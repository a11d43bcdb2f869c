"""Results: the schema of a run folder and how it is written (`schema`), the drift gate's comparison (`compare`)
and the paired statistics (`stats`). Imports only `bench.common`."""
