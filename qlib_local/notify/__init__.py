"""Notifications of live runs: DingTalk robots and Telegram bots, each optional, never fatal."""

from qlib_local.notify.channels import DingTalk, Notifier, Telegram, dingtalk_sign

__all__ = ["DingTalk", "Notifier", "Telegram", "dingtalk_sign"]
