"""Announcements and surveys for partner members, included at /announcements/ and /surveys/."""

from django.urls import path

from portal import engagement

announcement_urls = [
    path("", engagement.announcement_list, name="announcements"),
    path("<int:announcement_id>/", engagement.announcement_detail, name="announcement"),
    path("<int:announcement_id>/dismiss/", engagement.announcement_dismiss, name="announcement-dismiss"),
]

survey_urls = [
    path("", engagement.survey_list, name="surveys"),
    path("<int:response_id>/", engagement.survey_answer_view, name="survey-answer"),
]

# Staff pages, included at /program/ beside the dashboard.
staff_urls = [
    path("announcements/", engagement.staff_announcements, name="staff-announcements"),
    path("announcements/new/", engagement.staff_announcement_new, name="staff-announcement-new"),
    path("announcements/<int:announcement_id>/", engagement.staff_announcement, name="staff-announcement"),
    path(
        "announcements/<int:announcement_id>/cancel/",
        engagement.staff_announcement_cancel,
        name="staff-announcement-cancel",
    ),
    path("surveys/", engagement.staff_surveys, name="staff-surveys"),
    path("surveys/new/", engagement.staff_survey_new, name="staff-survey-new"),
    path("surveys/<int:survey_id>/", engagement.staff_survey, name="staff-survey"),
    path("surveys/<int:survey_id>/close/", engagement.staff_survey_close, name="staff-survey-close"),
]
