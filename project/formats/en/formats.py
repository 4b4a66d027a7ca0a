"""English dates as every page of ours writes them: "27 Nov 2026", "27 Nov 2026, 14:05".

Django's own English formats ("Nov. 27, 2026, 2:05 p.m.") would make the admin, the usage report
and the account pages disagree; localized formatting always wins over settings.DATE_FORMAT, so the
style is set here. Typing dates in forms is unchanged (Django's input formats).
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
TIME_FORMAT = "H:i"
