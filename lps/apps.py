from django.apps import AppConfig


class LpsConfig(AppConfig):
    name = "lps"
    verbose_name = "LPs"

    def ready(self) -> None:
        # Next actions (in contacts, a layer below) lists MFN deadlines and compliance expiry
        # through crm.lib.next_actions, so contacts never imports lps.
        from crm.lib import next_actions
        from lps.compliance import compliance_action_group
        from lps.side_letters import mfn_action_group

        next_actions.register("mfn", mfn_action_group)
        next_actions.register("compliance", compliance_action_group)
