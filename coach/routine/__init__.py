"""Routines: YAML text -> a frozen `Routine`, with every problem found at its line and column.

Owns the routine format: reading YAML with marks (`yamlnodes`), the model and its key tables and
limits (`model`), the parser (`parser`), finding routines by path or name and the built-in ones
(`library`, `routines/`), the starter routine (`starter`) and the editor schema
(`schema`, which writes `routine.schema.json` from the model's tables).

Must not import settings, script, sound, export, play or history: `coach validate` runs on this
package alone.
"""
