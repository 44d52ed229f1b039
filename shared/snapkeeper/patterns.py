"""The forms of the names and values Google Cloud (and our config) accept, each defined
once. Every pattern is meant for `fullmatch`: it describes the whole value."""

from __future__ import annotations

import re

# Project ids: 6-30 chars; we accept the wider legacy forms ("domain.com:proj") too.
PROJECT_ID = re.compile(r"([a-z][-a-z0-9.]*:)?[a-z][-a-z0-9]{4,28}[a-z0-9]")
# Pub/Sub topic and subscription ids (those starting with "goog" are refused apart).
TOPIC_ID = re.compile(r"[A-Za-z][-A-Za-z0-9._~%+]{2,254}")
LABEL_PREFIX = re.compile(r"[a-z][a-z0-9_-]{0,40}")
# A label value and a part of every snapshot name: short, so names stay within 63.
DEPLOYMENT_ID = re.compile(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?")
REGION = re.compile(r"[a-z]+(-[a-z]+)+[0-9]+")
ZONE = re.compile(rf"{REGION.pattern}-[a-z]")
# Folders and organizations by number, with or without their prefix (group 2: the number).
FOLDER = re.compile(r"(folders/)?([1-9][0-9]{0,18})")
ORGANIZATION = re.compile(r"(organizations/)?([1-9][0-9]{0,18})")
# A Cloud Storage location: a region, a dual or a multi-region ("eu").
STORAGE_LOCATION = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Cloud Monitoring's channels (group 1: the project).
NOTIFICATION_CHANNEL = re.compile(r"projects/([^/]+)/notificationChannels/[0-9]+")
