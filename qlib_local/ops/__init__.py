"""Operations: cron schedules, the foreground scheduler, monitoring views."""
