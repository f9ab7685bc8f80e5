"""The standard fundraising stages, shared by the data migration and the post_migrate hook."""

STAGES = [
    ("Lead", 10, 10, "open"),
    ("Outreach", 20, 20, "open"),
    ("Meeting", 30, 40, "open"),
    ("Due diligence", 40, 60, "open"),
    ("Committed", 50, 90, "won"),
    ("Funded", 60, 100, "won"),
    ("Passed", 70, 0, "lost"),
]


def create_default_stages(Stage, using: str = "default") -> None:  # noqa: N803 - a model class
    for name, order, probability, outcome in STAGES:
        Stage.objects.using(using).get_or_create(
            name=name, defaults={"order": order, "default_probability": probability, "outcome": outcome}
        )
