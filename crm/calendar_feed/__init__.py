"""The private calendar feed (issue 17): next actions, future meetings and the funds' closes as iCalendar."""
