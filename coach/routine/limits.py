"""The limits of the routine format's numbers, as plain tuples (lowest, highest).

A module of its own so the settings table, which the command line builds its options from,
imports them without the routine model: `coach --help` stays fast.
"""

# Limits: generous for any real routine, tight enough that a typo (an extra zero, minutes
# for seconds) is caught instead of producing a ten-hour session.
HOLD_MS = (1_000, 3_600_000)
REST_MS = (0, 3_600_000)
TRANSITION_MS = (0, 300_000)
TEMPO_MS = (500, 60_000)
BREATHE_MS = (1_000, 3_600_000)
RATE_WPM = (80, 450)
PACE = (0.25, 4.0)
PITCH = (0, 99)  # espeak-ng's scale
REPS = (1, 1000)
BREATHS = (1, 500)
SETS = (1, 100)
TIMES = (1, 100)
