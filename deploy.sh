#!/usr/bin/env bash
# deploy.sh: deploy snapkeeper to Google Cloud (or its Pub/Sub and Scheduler parts to the
# local stack) from one config file. Every step reads the current state first and only
# creates or updates what differs, so a second run changes nothing.
#
#   ./deploy.sh --config FILE [--dry-run]             deploy to Google Cloud
#   ./deploy.sh --config FILE --local [--enumerator-url URL --snapshot-url URL]
#   ./deploy.sh --config FILE --teardown [--yes] [--local]
#
# See infra/snapkeeper.example.env for the config keys and README.md ("Deploy"). The config
# is checked by the library's own rules (python -m snapkeeper.deployconfig) before any
# gcloud command; deploy.sh reads the settings it prints and does the gcloud work.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy.sh --config FILE [options]

  --config FILE         deployment settings (KEY=VALUE lines; see infra/snapkeeper.example.env)
  --dry-run             print every gcloud command (reads included) instead of running it
  --local               apply the Pub/Sub topology and the Scheduler jobs to the local stack:
                        the Pub/Sub emulator (PUBSUB_EMULATOR_HOST) and the fake Cloud
                        Scheduler (CLOUD_SCHEDULER_EMULATOR_HOST or
                        CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER), with push
                        subscriptions to the locally served functions
  --enumerator-url URL  push endpoint of the enumerator with --local (env ENUMERATOR_URL)
  --snapshot-url URL    push endpoint of the snapshot function with --local (env SNAPSHOT_URL)
  --teardown            delete what deploy.sh created (never a snapshot); asks first
  --yes                 do not ask before --teardown
  -h, --help            this help

The config is checked with the snapkeeper library, so a Python 3.11+ that has its
requirements is needed: SNAPKEEPER_PYTHON if set, else the repo's .venv/bin/python,
else python3.
EOF
}

# -- fixed names (the topics come with the checked config: the library's defaults) -------
readonly TICKS_SUB=snapkeeper-ticks-enumerator # --local only: Eventarc owns it in the cloud
readonly WORK_SUB=snapkeeper-work-snapshot     # --local only
readonly ENUMERATOR_FN=snapkeeper-enumerator
readonly SNAPSHOT_FN=snapkeeper-snapshot
readonly ENUMERATOR_SA_ID=snapkeeper-enumerator
readonly SNAPSHOT_SA_ID=snapkeeper-snapshot
readonly TRIGGER_SA_ID=snapkeeper-trigger # Eventarc pushes to the functions as this one
readonly ENUMERATOR_ROLE=snapkeeperEnumerator
readonly SNAPSHOT_ROLE=snapkeeperSnapshot
readonly DRILL_ROLE=snapkeeperDrill
readonly READY_METRIC=snapkeeper_snapshots_ready # what the stale-disk alerts watch
# Its predecessor (action="created"), removed once the alerts read the new one, and only
# when its description shows deploy.sh made it.
readonly LEGACY_CREATED_METRIC=snapkeeper_snapshots_created
readonly MANAGED_MARK="Managed by deploy.sh ("
readonly ERRORS_METRIC=snapkeeper_function_errors
readonly DRILLS_METRIC=snapkeeper_drills                 # restore drills: time to READY
readonly DRILL_FAILURES_METRIC=snapkeeper_drill_failures # what the drill alert watches
readonly JOB_PREFIX=snapkeeper-
readonly RUNTIME=python312
# The timeouts, the snapshot function's size and the ack deadlines that follow from them
# come with the checked config (snapkeeper.deployconfig holds the limits they obey).
readonly ENUMERATOR_MEMORY_MIB=512 ENUMERATOR_MAX_INSTANCES=10
readonly HOST_APIS=(
  cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com
  artifactregistry.googleapis.com eventarc.googleapis.com pubsub.googleapis.com
  cloudscheduler.googleapis.com logging.googleapis.com monitoring.googleapis.com
  iam.googleapis.com cloudresourcemanager.googleapis.com
)

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly INFRA_DIR=$SCRIPT_DIR/infra

# -- output -------------------------------------------------------------------------------
# stdout is fd 3 for --dry-run's command listing, so that functions whose output is
# captured with $(...) can still print a command.
exec 3>&1

say() { printf 'snapkeeper: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# A command line as it can be pasted back into a shell.
quoted() {
  local out
  printf -v out '%q ' "$@"
  printf '%s' "${out% }"
}

# -- options ------------------------------------------------------------------------------
CONFIG_FILE=""
DRY_RUN=0
LOCAL=0
TEARDOWN=0
ASSUME_YES=0
ENUMERATOR_URL=${ENUMERATOR_URL:-}
SNAPSHOT_URL=${SNAPSHOT_URL:-}

parse_args() {
  while (($#)); do
    case $1 in
      --config) CONFIG_FILE=${2:?--config needs a file}; shift ;;
      --config=*) CONFIG_FILE=${1#*=} ;;
      --dry-run) DRY_RUN=1 ;;
      --local) LOCAL=1 ;;
      --teardown) TEARDOWN=1 ;;
      --yes | -y) ASSUME_YES=1 ;;
      --enumerator-url) ENUMERATOR_URL=${2:?--enumerator-url needs a URL}; shift ;;
      --enumerator-url=*) ENUMERATOR_URL=${1#*=} ;;
      --snapshot-url) SNAPSHOT_URL=${2:?--snapshot-url needs a URL}; shift ;;
      --snapshot-url=*) SNAPSHOT_URL=${1#*=} ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
  done
  [[ -n $CONFIG_FILE ]] || { usage >&2; die "--config FILE is required"; }
}

# -- config -------------------------------------------------------------------------------
# The checker runs on this checkout's shared/ (so its rules are those of the code being
# deployed) and prints the normalised settings as NUL-terminated KEY=VALUE records;
# nothing in the config file is ever evaluated.
PYTHON=""

# library_python PYTHON ARG...: PYTHON with this checkout's library first on its path
# (and not the working directory, whose files must not shadow it).
library_python() {
  PYTHONSAFEPATH=1 PYTHONPATH="$SCRIPT_DIR/shared${PYTHONPATH:+:$PYTHONPATH}" "$@"
}

readonly PYTHON_PROBE='import sys
if sys.version_info < (3, 11):
    sys.exit("Python %d.%d is too old, 3.11 or newer is needed" % sys.version_info[:2])
import snapkeeper.deployconfig'

# SNAPKEEPER_PYTHON if set, else the repo's .venv, else python3: the first that can
# import the checker (it needs croniter from requirements.txt).
find_python() {
  local candidate why tried=""
  local candidates=("$SCRIPT_DIR/.venv/bin/python" python3)
  [[ -z ${SNAPKEEPER_PYTHON:-} ]] || candidates=("$SNAPKEEPER_PYTHON")
  for candidate in "${candidates[@]}"; do
    if ! command -v "$candidate" >/dev/null; then
      why="not found"
    elif why=$(library_python "$candidate" -c "$PYTHON_PROBE" 2>&1); then
      PYTHON=$candidate
      return 0
    fi
    tried+="${tried:+; }$candidate: ${why##*$'\n'}"
  done
  die "no Python that can check the config ($tried). Make one with: python3 -m venv \
$SCRIPT_DIR/.venv && $SCRIPT_DIR/.venv/bin/pip install -r $SCRIPT_DIR/requirements.txt \
(Python 3.11 or newer), or set SNAPKEEPER_PYTHON to a Python that has requirements.txt"
}

# The checked settings, set by load_config.
HOST_PROJECT="" REGION="" SCHEDULER_LOCATION="" SNAPSHOT_PROJECT="" CHANNELS_JSON="[]"
TICKS_TOPIC="" WORK_TOPIC="" DEAD_LETTER_TOPIC="" DEAD_LETTER_SUB=""
MAX_ATTEMPTS=0 MIN_DELAY=0 MAX_DELAY=0 ACK_DEADLINE=0 SNAPSHOT_MAX_INSTANCES=0
READY_WAIT=0 SNAPSHOT_TIMEOUT=0 SNAPSHOT_CONCURRENCY=0 SNAPSHOT_CPU=0 SNAPSHOT_MEMORY_MIB=0
ENUMERATOR_TIMEOUT=0 ENUMERATOR_ACK=0 SNAPSHOT_ACK=0 LOCAL_SNAPSHOT_ACK=0
TARGETS=()
ROLE_PROJECTS=() # every project a function role is defined and granted in
TARGET_FOLDERS=() TARGET_ORGANIZATION="" # whose projects are found each tick
ROLE_ORGANIZATION="" # where the roles granted on those folders and the organization live
SCHEDULE_NAMES=() SCHEDULE_CRONS=() SCHEDULE_ZONES=() SCHEDULE_STALE=() SCHEDULE_TICKS=()
DRILL_CRON="" DRILL_TIME_ZONE="" DRILL_TICK="" SCRATCH_PROJECT="" # restore drills, if any
FUNCTION_ENV=()          # NAME=VALUE: the environment of both functions
SNAPSHOT_FUNCTION_ENV=() # NAME=VALUE: the snapshot function's own
LOCAL_ENDPOINTS=()       # --endpoint NAME=VALUE for the checker, with --local

# read_records: the checker's NUL-terminated KEY=VALUE records on stdin into the settings
# above; a repeated key is a list, in order.
read_records() {
  local record value
  while IFS= read -r -d '' record; do
    value=${record#*=}
    case ${record%%=*} in
      HOST_PROJECT) HOST_PROJECT=$value ;;
      REGION) REGION=$value ;;
      SCHEDULER_LOCATION) SCHEDULER_LOCATION=$value ;;
      SNAPSHOT_PROJECT) SNAPSHOT_PROJECT=$value ;;
      NOTIFICATION_CHANNELS_JSON) CHANNELS_JSON=$value ;;
      TICK_TOPIC) TICKS_TOPIC=$value ;;
      WORK_TOPIC) WORK_TOPIC=$value ;;
      DEAD_LETTER_TOPIC) DEAD_LETTER_TOPIC=$value ;;
      DEAD_LETTER_SUBSCRIPTION) DEAD_LETTER_SUB=$value ;;
      MAX_DELIVERY_ATTEMPTS) MAX_ATTEMPTS=$value ;;
      MIN_RETRY_DELAY_SECONDS) MIN_DELAY=$value ;;
      MAX_RETRY_DELAY_SECONDS) MAX_DELAY=$value ;;
      ACK_DEADLINE_SECONDS) ACK_DEADLINE=$value ;;
      SNAPSHOT_MAX_INSTANCES) SNAPSHOT_MAX_INSTANCES=$value ;;
      READY_WAIT_SECONDS) READY_WAIT=$value ;;
      SNAPSHOT_TIMEOUT_SECONDS) SNAPSHOT_TIMEOUT=$value ;;
      SNAPSHOT_CONCURRENCY) SNAPSHOT_CONCURRENCY=$value ;;
      SNAPSHOT_CPU) SNAPSHOT_CPU=$value ;;
      SNAPSHOT_MEMORY_MIB) SNAPSHOT_MEMORY_MIB=$value ;;
      ENUMERATOR_TIMEOUT_SECONDS) ENUMERATOR_TIMEOUT=$value ;;
      ENUMERATOR_ACK_DEADLINE_SECONDS) ENUMERATOR_ACK=$value ;;
      SNAPSHOT_ACK_DEADLINE_SECONDS) SNAPSHOT_ACK=$value ;;
      LOCAL_SNAPSHOT_ACK_DEADLINE_SECONDS) LOCAL_SNAPSHOT_ACK=$value ;;
      TARGET_PROJECT) TARGETS+=("$value") ;;
      TARGET_FOLDER) TARGET_FOLDERS+=("${value#folders/}") ;;
      TARGET_ORGANIZATION) TARGET_ORGANIZATION=${value#organizations/} ;;
      ROLE_ORGANIZATION) ROLE_ORGANIZATION=${value#organizations/} ;;
      ROLE_PROJECT) ROLE_PROJECTS+=("$value") ;;
      SCHEDULE_NAME) SCHEDULE_NAMES+=("$value") ;;
      SCHEDULE_CRON) SCHEDULE_CRONS+=("$value") ;;
      SCHEDULE_TIME_ZONE) SCHEDULE_ZONES+=("$value") ;;
      SCHEDULE_STALE_AFTER) SCHEDULE_STALE+=("$value") ;;
      SCHEDULE_TICK) SCHEDULE_TICKS+=("$value") ;;
      DRILL_CRON) DRILL_CRON=$value ;;
      DRILL_TIME_ZONE) DRILL_TIME_ZONE=$value ;;
      DRILL_TICK) DRILL_TICK=$value ;;
      SCRATCH_PROJECT) SCRATCH_PROJECT=$value ;;
      FUNCTION_ENV) FUNCTION_ENV+=("$value") ;;
      SNAPSHOT_FUNCTION_ENV) SNAPSHOT_FUNCTION_ENV+=("$value") ;;
      *) ;; # printed for people too (LABEL_PREFIX, ...): deploy.sh uses them in FUNCTION_ENV
    esac
  done
}

# load_config FILE: check it (every bad line is reported, with its number and key) and
# read the settings; stops before any gcloud command when it is not valid.
load_config() {
  local file=$1 records status=0 args=(--null)
  if ((LOCAL)); then args+=(--local ${LOCAL_ENDPOINTS[@]+"${LOCAL_ENDPOINTS[@]}"}); fi
  records=$(mktemp "${TMPDIR:-/tmp}/snapkeeper-config.XXXXXX")
  library_python "$PYTHON" -m snapkeeper.deployconfig "${args[@]}" -- "$file" >"$records" ||
    status=$?
  if ((status == 0)); then read_records <"$records"; fi
  rm -f -- "$records"
  ((status != 2)) || die "nothing was run: fix what is said above, then run deploy.sh again"
  ((status == 0)) || die "checking $file with $PYTHON failed (exit status $status)"
  [[ -n $HOST_PROJECT && ${#FUNCTION_ENV[@]} -gt 0 ]] ||
    die "checking $file with $PYTHON printed no settings"
}

# With --local: the endpoints it needs, passed to the checker (which checks their form).
local_endpoints() {
  [[ -n ${PUBSUB_EMULATOR_HOST:-} ]] || die "--local needs PUBSUB_EMULATOR_HOST (host:port)"
  LOCAL_ENDPOINTS=(--endpoint "PUBSUB_EMULATOR_HOST=$PUBSUB_EMULATOR_HOST")
  if [[ -z ${CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER:-} && -n ${CLOUD_SCHEDULER_EMULATOR_HOST:-} ]]; then
    LOCAL_ENDPOINTS+=(--endpoint "CLOUD_SCHEDULER_EMULATOR_HOST=$CLOUD_SCHEDULER_EMULATOR_HOST")
  fi
  ((!TEARDOWN)) || return 0
  [[ -n $ENUMERATOR_URL ]] || die "--local needs --enumerator-url (or ENUMERATOR_URL)"
  [[ -n $SNAPSHOT_URL ]] || die "--local needs --snapshot-url (or SNAPSHOT_URL)"
  LOCAL_ENDPOINTS+=(--endpoint "ENUMERATOR_URL=$ENUMERATOR_URL" --endpoint "SNAPSHOT_URL=$SNAPSHOT_URL")
}

# -- gcloud ---------------------------------------------------------------------------------
CHANGES=0
WORK_DIR=""

# A change: shown as "+ gcloud ..." and run, or only printed with --dry-run.
change() {
  CHANGES=$((CHANGES + 1))
  if ((DRY_RUN)); then
    printf '%s\n' "$(quoted gcloud "$@")" >&3
    return 0
  fi
  printf '+ %s\n' "$(quoted gcloud "$@")" >&2
  gcloud --quiet "$@" >/dev/null # its status lines ("Created topic ...") go to stderr
}

# A read into $OUT (empty with --dry-run, which only prints the command).
read_into_out() {
  OUT=""
  if ((DRY_RUN)); then
    printf '%s\n' "$(quoted gcloud "$@")" >&3
    return 0
  fi
  OUT=$(gcloud --quiet "$@" 2>"$WORK_DIR/stderr") || {
    cat "$WORK_DIR/stderr" >&2
    die "failed: $(quoted gcloud "$@")"
  }
}

# Describe into $OUT: returns 1 when the resource does not exist (always with --dry-run).
# Any other failure (auth, network, permission) stops the deploy rather than lead to a
# create over something that exists.
describe_into_out() {
  OUT=""
  if ((DRY_RUN)); then
    printf '%s\n' "$(quoted gcloud "$@")" >&3
    return 1
  fi
  if OUT=$(gcloud --quiet "$@" 2>"$WORK_DIR/stderr"); then
    return 0
  fi
  if grep -qE 'NOT_FOUND|[Nn]ot [Ff]ound|does not exist|404' "$WORK_DIR/stderr"; then
    return 1
  fi
  cat "$WORK_DIR/stderr" >&2
  die "failed: $(quoted gcloud "$@")"
}

in_lines() { # in_lines NEEDLE TEXT: whether TEXT has the line NEEDLE
  [[ $'\n'"$2"$'\n' == *$'\n'"$1"$'\n'* ]]
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum | cut -c1-16; else shasum -a 256 | cut -c1-16; fi
}

base64_line() { base64 | tr -d '\n'; }

# -- steps: APIs, roles, service accounts, IAM ----------------------------------------------------
enable_apis() { # enable_apis PROJECT API...
  local project=$1 api missing=()
  shift
  read_into_out services list --enabled --project="$project" --format='value(config.name)'
  for api in "$@"; do in_lines "$api" "$OUT" || missing+=("$api"); done
  ((${#missing[@]} == 0)) || change services enable "${missing[@]}" --project="$project"
}

role_permissions() { # the sorted includedPermissions of a role file, comma-separated
  local line perms=()
  while IFS= read -r line; do
    [[ $line =~ ^[[:space:]]*-[[:space:]]*([a-zA-Z0-9._]+)[[:space:]]*$ ]] && perms+=("${BASH_REMATCH[1]}")
  done <"$1"
  printf '%s\n' "${perms[@]}" | LC_ALL=C sort | paste -sd, -
}

role_title() {
  local line
  while IFS= read -r line; do
    [[ $line =~ ^title:[[:space:]]*(.*)$ ]] && { printf '%s' "${BASH_REMATCH[1]}"; return; }
  done <"$1"
}

ensure_role() { # ensure_role --project=P|--organization=N ROLE_ID FILE
  local where=$1 role=$2 file=$3 want title
  want=$(role_permissions "$file")
  title=$(role_title "$file")
  if describe_into_out iam roles describe "$role" "$where" \
    --format='value(deleted.yesno(yes=deleted,no=live),title,includedPermissions.list(separator=","))'; then
    local deleted have_title have_perms
    IFS=$'\t' read -r deleted have_title have_perms <<<"$OUT"
    if [[ $deleted == deleted ]]; then
      change iam roles undelete "$role" "$where"
    fi
    have_perms=$(tr ',' '\n' <<<"$have_perms" | LC_ALL=C sort | paste -sd, -)
    if [[ $deleted == deleted || $have_perms != "$want" || $have_title != "$title" ]]; then
      change iam roles update "$role" "$where" --file="$file"
    fi
  else
    change iam roles create "$role" "$where" --file="$file"
  fi
}

ensure_service_accounts() {
  local id existing
  read_into_out iam service-accounts list --project="$HOST_PROJECT" --format='value(email)'
  existing=$OUT
  for id in "$ENUMERATOR_SA_ID" "$SNAPSHOT_SA_ID" "$TRIGGER_SA_ID"; do
    in_lines "$(sa_email "$id")" "$existing" ||
      change iam service-accounts create "$id" --project="$HOST_PROJECT" \
        --display-name="snapkeeper ${id#snapkeeper-}" \
        --description="snapkeeper: runs as this (${id#snapkeeper-}); made by deploy.sh"
  done
}

sa_email() { printf '%s@%s.iam.gserviceaccount.com' "$1" "$HOST_PROJECT"; }

# ensure_binding ROLE MEMBER GROUP... -- RESOURCE [FLAG...]: add ROLE for MEMBER on the
# resource unless its policy has it (read first, so a second run writes nothing).
ensure_binding() {
  local role=$1 member=$2 group=()
  shift 2
  while (($#)) && [[ $1 != -- ]]; do group+=("$1"); shift; done
  shift
  local extra=()
  case ${group[*]} in # these may hold conditions
    projects | organizations | "resource-manager folders") extra=(--condition=None) ;;
  esac
  if describe_into_out "${group[@]}" get-iam-policy "$@" --flatten='bindings[].members' \
    --format='csv[no-heading](bindings.role,bindings.members)' &&
    in_lines "$role,$member" "$OUT"; then
    return 0
  fi
  change "${group[@]}" add-iam-policy-binding "$@" --role="$role" --member="$member" "${extra[@]}"
}

# The folders and the organization whose projects are targets: "GROUP... ID" per line.
hierarchy_targets() {
  local folder
  for folder in "${TARGET_FOLDERS[@]}"; do printf 'resource-manager folders %s\n' "$folder"; done
  [[ -z $TARGET_ORGANIZATION ]] || printf 'organizations %s\n' "$TARGET_ORGANIZATION"
}

# Both roles, defined once in ROLE_ORGANIZATION, granted on each target folder and the
# target organization, with Browser: the enumerator lists the projects and folders
# under them, the snapshot function reads a project's ancestry.
grant_hierarchy_roles() {
  [[ -n $ROLE_ORGANIZATION ]] || return 0
  local where=(--organization="$ROLE_ORGANIZATION") line parts
  ensure_role "${where[0]}" "$ENUMERATOR_ROLE" "$INFRA_DIR/roles/enumerator.yaml"
  ensure_role "${where[0]}" "$SNAPSHOT_ROLE" "$INFRA_DIR/roles/snapshot.yaml"
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    read -ra parts <<<"$line"
    local id=${parts[-1]} group=("${parts[@]:0:${#parts[@]}-1}") pair
    for pair in "$ENUMERATOR_ROLE:$ENUMERATOR_SA_ID" "$SNAPSHOT_ROLE:$SNAPSHOT_SA_ID"; do
      local member
      member="serviceAccount:$(sa_email "${pair#*:}")"
      ensure_binding "organizations/$ROLE_ORGANIZATION/roles/${pair%%:*}" "$member" \
        "${group[@]}" -- "$id"
      ensure_binding roles/browser "$member" "${group[@]}" -- "$id"
    done
  done <<<"$(hierarchy_targets)"
}

remove_hierarchy_roles() { # teardown's undoing of grant_hierarchy_roles
  [[ -n $ROLE_ORGANIZATION ]] || return 0
  local line parts pair role member
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    read -ra parts <<<"$line"
    local id=${parts[-1]} group=("${parts[@]:0:${#parts[@]}-1}")
    describe_into_out "${group[@]}" get-iam-policy "$id" --flatten='bindings[].members' \
      --format='csv[no-heading](bindings.role,bindings.members)' || true
    for pair in "$ENUMERATOR_ROLE:$ENUMERATOR_SA_ID" "$SNAPSHOT_ROLE:$SNAPSHOT_SA_ID"; do
      member="serviceAccount:$(sa_email "${pair#*:}")"
      for role in "organizations/$ROLE_ORGANIZATION/roles/${pair%%:*}" roles/browser; do
        if ((DRY_RUN)) || in_lines "$role,$member" "$OUT"; then
          change "${group[@]}" remove-iam-policy-binding "$id" --role="$role" \
            --member="$member" --condition=None
        fi
      done
    done
  done <<<"$(hierarchy_targets)"
  for role in "$ENUMERATOR_ROLE" "$SNAPSHOT_ROLE"; do
    delete_if_exists iam roles describe "$role" --organization="$ROLE_ORGANIZATION" \
      -- iam roles delete "$role" --organization="$ROLE_ORGANIZATION"
  done
}

grant_function_roles() {
  local project
  grant_hierarchy_roles
  for project in "${ROLE_PROJECTS[@]}"; do
    # The enumerator lists snapshots for ORPHAN_POLICY where they are kept: in the vault too.
    ensure_role --project="$project" "$ENUMERATOR_ROLE" "$INFRA_DIR/roles/enumerator.yaml"
    ensure_binding "projects/$project/roles/$ENUMERATOR_ROLE" \
      "serviceAccount:$(sa_email "$ENUMERATOR_SA_ID")" projects -- "$project"
    ensure_role --project="$project" "$SNAPSHOT_ROLE" "$INFRA_DIR/roles/snapshot.yaml"
    ensure_binding "projects/$project/roles/$SNAPSHOT_ROLE" \
      "serviceAccount:$(sa_email "$SNAPSHOT_SA_ID")" projects -- "$project"
  done
  if [[ -n $SCRATCH_PROJECT ]]; then # restore drills make and delete disks there only
    ensure_role --project="$SCRATCH_PROJECT" "$DRILL_ROLE" "$INFRA_DIR/roles/drill.yaml"
    ensure_binding "projects/$SCRATCH_PROJECT/roles/$DRILL_ROLE" \
      "serviceAccount:$(sa_email "$SNAPSHOT_SA_ID")" projects -- "$SCRATCH_PROJECT"
  fi
}

# -- steps: Pub/Sub ---------------------------------------------------------------------------
topic_path() { printf 'projects/%s/topics/%s' "$HOST_PROJECT" "$1"; }

ensure_topics() {
  local topic
  read_into_out pubsub topics list --project="$HOST_PROJECT" --format='value(name.basename())'
  for topic in "$TICKS_TOPIC" "$WORK_TOPIC" "$DEAD_LETTER_TOPIC"; do
    in_lines "$topic" "$OUT" || change pubsub topics create "$topic" --project="$HOST_PROJECT"
  done
}

SUBSCRIPTIONS="" # name<TAB>settings lines of the host project's subscriptions
readonly SUB_FORMAT='value(name.basename(),topic.basename(),pushConfig.pushEndpoint,ackDeadlineSeconds,retryPolicy.minimumBackoff,retryPolicy.maximumBackoff,deadLetterPolicy.deadLetterTopic,deadLetterPolicy.maxDeliveryAttempts)'

read_subscriptions() {
  read_into_out pubsub subscriptions list --project="$HOST_PROJECT" --format="$SUB_FORMAT"
  SUBSCRIPTIONS=$OUT
}

subscription_row() { # the listed row of subscription $1, or nothing
  local row
  while IFS= read -r row; do
    [[ ${row%%$'\t'*} == "$1" ]] && { printf '%s' "$row"; return 0; }
  done <<<"$SUBSCRIPTIONS"
  return 0
}

# ensure_subscription NAME TOPIC PUSH_ENDPOINT POLICIES(0|1) [ACK_DEADLINE]: a
# subscription deploy.sh owns (the dead-letter pull subscription; with --local the two
# push subscriptions). The ack deadline defaults to ACK_DEADLINE_SECONDS.
ensure_subscription() {
  local name=$1 topic=$2 endpoint=$3 policies=$4 ack=${5:-$ACK_DEADLINE}
  local settings=(--ack-deadline="$ack")
  local want="$name"$'\t'"$topic"$'\t'"$endpoint"$'\t'"$ack"
  if [[ -n $endpoint ]]; then settings+=(--push-endpoint="$endpoint"); fi
  if ((policies)); then
    settings+=("${POLICY_FLAGS[@]}")
    want+=$'\t'"${MIN_DELAY}s"$'\t'"${MAX_DELAY}s"$'\t'"$(topic_path "$DEAD_LETTER_TOPIC")"$'\t'"$MAX_ATTEMPTS"
  else
    want+=$'\t\t\t\t'
  fi
  local have
  have=$(subscription_row "$name")
  if [[ -z $have ]]; then
    change pubsub subscriptions create "$name" --project="$HOST_PROJECT" --topic="$topic" \
      "${settings[@]}" --expiration-period=never
  elif [[ $have != "$want" ]]; then
    local have_topic
    have_topic=$(cut -f2 <<<"$have")
    [[ $have_topic == "$topic" ]] ||
      die "subscription $name reads topic $have_topic, not $topic: delete it, then deploy again"
    change pubsub subscriptions update "$name" --project="$HOST_PROJECT" "${settings[@]}"
  fi
}

POLICY_FLAGS=()
set_policy_flags() {
  POLICY_FLAGS=(
    --dead-letter-topic="$(topic_path "$DEAD_LETTER_TOPIC")"
    --max-delivery-attempts="$MAX_ATTEMPTS"
    --min-retry-delay="${MIN_DELAY}s"
    --max-retry-delay="${MAX_DELAY}s"
  )
}

# The subscription Eventarc made for a function's trigger gets the retry and dead-letter
# policy (Eventarc creates it without one), and an ack deadline of at least the function's
# timeout: Pub/Sub waits that long for the push's answer before it delivers the message
# again, so a shorter one would run a disk twice at once while the first run still waits.
# Only those fields are touched, in one update, and only the ones that fall short (a
# longer ack deadline set by hand stays).
ensure_trigger_subscription() { # ensure_trigger_subscription SUBSCRIPTION ACK_DEADLINE
  local name=$1 ack=$2 want have="" row flags=()
  want=$'\t'"${MIN_DELAY}s"$'\t'"${MAX_DELAY}s"$'\t'"$(topic_path "$DEAD_LETTER_TOPIC")"$'\t'"$MAX_ATTEMPTS"
  row=$(subscription_row "$name")
  [[ -z $row ]] || have=$'\t'$(cut -f5- <<<"$row")
  [[ $have == "$want" ]] || flags+=("${POLICY_FLAGS[@]}")
  local have_ack
  have_ack=$(cut -f4 <<<"$row")
  [[ $have_ack =~ ^[0-9]+$ ]] && ((have_ack >= ack)) || flags+=(--ack-deadline="$ack")
  if ((${#flags[@]})); then
    change pubsub subscriptions update "$name" --project="$HOST_PROJECT" "${flags[@]}"
  fi
}

# -- steps: functions ---------------------------------------------------------------------------
# The upload: main.py, requirements.txt and the snapkeeper package next to them, so that
# `import snapkeeper` works on Cloud Functions as it does locally.
stage_source() { # stage_source FUNCTION_DIR DEST
  local src=$SCRIPT_DIR/functions/$1 dest=$2
  mkdir -p "$dest"
  cp "$src/main.py" "$src/requirements.txt" "$dest/"
  cp -R "$SCRIPT_DIR/shared/snapkeeper" "$dest/snapkeeper"
  find "$dest" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
}

source_digest() { # a digest of the staged files (names and contents)
  (cd "$1" && find . -type f -print | LC_ALL=C sort | while IFS= read -r f; do
    printf '%s\n' "$f"
    cat "$f"
  done) | sha256
}

# write_env_file FILE NAME=VALUE...: a function's environment as YAML (single-quoted,
# a quote doubled as YAML wants).
write_env_file() {
  local file=$1 pair value quote="'"
  shift
  for pair in "$@"; do
    value=${pair#*=}
    printf "%s: '%s'\n" "${pair%%=*}" "${value//$quote/$quote$quote}"
  done >"$file"
}

# deploy_function NAME DIR ENTRY_POINT TOPIC SA_ID SIZE_FLAG... [-- NAME=VALUE...]
# The size flags are the instance's (timeout, memory, cpu, concurrency, max instances);
# the pairs go to this function's environment only, after FUNCTION_ENV.
# Redeployed only when the source or a setting changed: the digest of both is kept in a
# label of the function and compared first.
deploy_function() {
  local name=$1 dir=$2 entry=$3 topic=$4 sa_id=$5 size=()
  shift 5
  while (($#)) && [[ $1 != -- ]]; do size+=("$1"); shift; done
  (($# == 0)) || shift
  local src=$WORK_DIR/source-$name env_file=$WORK_DIR/env-$name.yaml
  stage_source "$dir" "$src"
  write_env_file "$env_file" "${FUNCTION_ENV[@]}" "$@"
  local settings=(
    --gen2 --project="$HOST_PROJECT" --region="$REGION" --runtime="$RUNTIME"
    --entry-point="$entry" --trigger-topic="$topic"
    --service-account="$(sa_email "$sa_id")"
    --trigger-service-account="$(sa_email "$TRIGGER_SA_ID")"
    "${size[@]}"
    --ingress-settings=internal-only --no-allow-unauthenticated --retry
  )
  local fingerprint
  fingerprint=$({
    quoted "${settings[@]}"
    cat "$env_file"
    source_digest "$src"
  } | sha256)
  if describe_into_out functions describe "$name" --gen2 --project="$HOST_PROJECT" \
    --region="$REGION" --format='value(labels.snapkeeper_fingerprint,state)' &&
    [[ $OUT == "$fingerprint"$'\t'ACTIVE ]]; then
    return 0
  fi
  change functions deploy "$name" "${settings[@]}" --source="$src" \
    --env-vars-file="$env_file" --update-labels="snapkeeper_fingerprint=$fingerprint"
}

# The Pub/Sub subscription behind a function's Eventarc trigger (printed to $OUT).
trigger_subscription() { # trigger_subscription FUNCTION
  local trigger
  OUT=""
  describe_into_out functions describe "$1" --gen2 --project="$HOST_PROJECT" \
    --region="$REGION" --format='value(eventTrigger.trigger)' || true
  trigger=$OUT
  if [[ -z $trigger ]]; then
    ((DRY_RUN)) || die "function $1 has no Eventarc trigger"
    OUT="EVENTARC_SUBSCRIPTION_OF_$1"
    return 0
  fi
  describe_into_out eventarc triggers describe "${trigger##*/}" --project="$HOST_PROJECT" \
    --location="$REGION" --format='value(transport.pubsub.subscription)' ||
    die "Eventarc trigger $trigger of $1 not found"
  [[ -n $OUT ]] || die "Eventarc trigger $trigger has no Pub/Sub subscription"
  OUT=${OUT##*/}
}

# Only the trigger's service account may invoke a function: add it, and take away any
# public (allUsers / allAuthenticatedUsers) invoker binding someone added by hand.
ensure_invoker() { # ensure_invoker FUNCTION
  local name=$1 member public
  member="serviceAccount:$(sa_email "$TRIGGER_SA_ID")"
  local where=(--project="$HOST_PROJECT" --region="$REGION")
  describe_into_out run services get-iam-policy "$name" "${where[@]}" \
    --flatten='bindings[].members' --format='csv[no-heading](bindings.role,bindings.members)' || true
  local policy=$OUT
  in_lines "roles/run.invoker,$member" "$policy" ||
    change run services add-iam-policy-binding "$name" "${where[@]}" \
      --role=roles/run.invoker --member="$member"
  for public in allUsers allAuthenticatedUsers; do
    if in_lines "roles/run.invoker,$public" "$policy"; then
      change run services remove-iam-policy-binding "$name" "${where[@]}" \
        --role=roles/run.invoker --member="$public"
    fi
  done
}

# -- steps: Scheduler -------------------------------------------------------------------------
# ensure_job JOB CRON ZONE PAYLOAD DESCRIPTION: create or update one Pub/Sub job
# ($jobs: the listing of ensure_scheduler_jobs; $where: its location and project).
ensure_job() {
  local job=$1 cron=$2 zone=$3 payload=$4 description=$5 want have="" row
  want="$job"$'\t'"$cron"$'\t'"$zone"$'\t'"$(topic_path "$TICKS_TOPIC")"$'\t'"$(printf '%s' "$payload" | base64_line)"
  while IFS= read -r row; do [[ ${row%%$'\t'*} == "$job" ]] && have=$row; done <<<"$jobs"
  local settings=(--schedule="$cron" --time-zone="$zone" --topic="$TICKS_TOPIC"
    --message-body="$payload")
  if [[ -z $have ]]; then
    change scheduler jobs create pubsub "$job" "${where[@]}" "${settings[@]}" \
      --description="$description"
  elif [[ $have != "$want" ]]; then
    change scheduler jobs update pubsub "$job" "${where[@]}" "${settings[@]}"
  fi
}

ensure_scheduler_jobs() {
  local where=(--location="$SCHEDULER_LOCATION" --project="$HOST_PROJECT")
  read_into_out scheduler jobs list "${where[@]}" \
    --format='value(name.basename(),schedule,timeZone,pubsubTarget.topicName,pubsubTarget.data)'
  local jobs=$OUT i job row wanted=" "
  for i in "${!SCHEDULE_NAMES[@]}"; do
    job=$JOB_PREFIX${SCHEDULE_NAMES[$i]}
    wanted+="$job "
    # the message each tick of that schedule publishes
    ensure_job "$job" "${SCHEDULE_CRONS[$i]}" "${SCHEDULE_ZONES[$i]}" "${SCHEDULE_TICKS[$i]}" \
      "snapkeeper: tick of schedule ${SCHEDULE_NAMES[$i]} (deploy.sh)"
  done
  if [[ -n $DRILL_CRON ]]; then # no schedule name has a dash: never a schedule's job
    job=${JOB_PREFIX}restore-drill
    wanted+="$job "
    ensure_job "$job" "$DRILL_CRON" "$DRILL_TIME_ZONE" "$DRILL_TICK" \
      "snapkeeper: restore drill tick (deploy.sh)"
  fi
  # A job for a schedule no longer in the config is left alone (it may have been made
  # with `snapkeeper schedule set`); say so, so that it is a decision.
  while IFS= read -r row; do
    job=${row%%$'\t'*}
    if [[ $job == "$JOB_PREFIX"* && $wanted != *" $job "* ]]; then
      say "note: Scheduler job $job is not in the config; delete it with: gcloud scheduler jobs delete $job --location=$SCHEDULER_LOCATION --project=$HOST_PROJECT"
    fi
  done <<<"$jobs"
}

# -- steps: logging metrics and alert policies ------------------------------------------------
# render TEMPLATE DEST [@KEY@ VALUE]...: substitute placeholders (plain string
# replacement, no evaluation); @FINGERPRINT@ becomes a digest of everything else, so an
# unchanged file is recognised on the next run.
render() {
  local template=$1 dest=$2 text fingerprint
  shift 2
  text=$(<"$template")
  text=${text//@HOST_PROJECT@/$HOST_PROJECT}
  text=${text//@NOTIFICATION_CHANNELS@/$CHANNELS_JSON}
  while (($# >= 2)); do
    text=${text//"$1"/$2}
    shift 2
  done
  fingerprint=$(printf '%s' "$text" | sha256)
  printf '%s\n' "${text//@FINGERPRINT@/$fingerprint}" >"$dest"
  RENDERED_FINGERPRINT=$fingerprint
}
RENDERED_FINGERPRINT=""

ensure_log_metric() { # ensure_log_metric NAME TEMPLATE
  local name=$1 file=$WORK_DIR/metric-$1.yaml
  render "$2" "$file"
  if describe_into_out logging metrics describe "$name" --project="$HOST_PROJECT" \
    --format='value(description)'; then
    [[ $OUT == *"($RENDERED_FINGERPRINT)"* ]] ||
      change logging metrics update "$name" --project="$HOST_PROJECT" --config-from-file="$file"
  else
    change logging metrics create "$name" --project="$HOST_PROJECT" --config-from-file="$file"
  fi
}

POLICIES="" # name<TAB>snapkeeper_policy<TAB>snapkeeper_fingerprint of existing policies

ensure_policy() { # ensure_policy ID TEMPLATE [@KEY@ VALUE]...
  local id=$1 template=$2 file=$WORK_DIR/policy-$1.json row name="" have=""
  shift 2
  render "$template" "$file" "$@"
  while IFS=$'\t' read -r -a row; do
    [[ ${row[1]:-} == "$id" ]] && { name=${row[0]}; have=${row[2]:-}; }
  done <<<"$POLICIES"
  if [[ -z $name ]]; then
    change alpha monitoring policies create --project="$HOST_PROJECT" --policy-from-file="$file"
  elif [[ $have != "$RENDERED_FINGERPRINT" ]]; then
    change alpha monitoring policies update "$name" --project="$HOST_PROJECT" --policy-from-file="$file"
  fi
}

# The log metric the stale-disk alerts used to watch (action="created": a snapshot still
# CREATING counted, and one found READY on redelivery did not). Removed once the alerts
# read its successor, and only when its description shows deploy.sh made it.
remove_legacy_metric() {
  describe_into_out logging metrics describe "$LEGACY_CREATED_METRIC" --project="$HOST_PROJECT" \
    --format='value(description)' || return 0
  if [[ $OUT == *"$MANAGED_MARK"* ]]; then
    change logging metrics delete "$LEGACY_CREATED_METRIC" --project="$HOST_PROJECT"
  else
    say "note: log metric $LEGACY_CREATED_METRIC was not made by deploy.sh; left alone"
  fi
}

ensure_monitoring() {
  ensure_log_metric "$READY_METRIC" "$INFRA_DIR/metrics/snapshots-ready.yaml"
  ensure_log_metric "$ERRORS_METRIC" "$INFRA_DIR/metrics/function-errors.yaml"
  read_into_out alpha monitoring policies list --project="$HOST_PROJECT" \
    --format='value(name,userLabels.snapkeeper_policy,userLabels.snapkeeper_fingerprint)'
  POLICIES=$OUT
  ensure_policy dead-letter-backlog "$INFRA_DIR/alerts/dead-letter-backlog.json"
  ensure_policy function-errors "$INFRA_DIR/alerts/function-errors.json"
  ensure_policy snapshot-quota "$INFRA_DIR/alerts/snapshot-quota.json"
  if [[ -n $DRILL_CRON ]]; then
    ensure_log_metric "$DRILLS_METRIC" "$INFRA_DIR/metrics/drills.yaml"
    ensure_log_metric "$DRILL_FAILURES_METRIC" "$INFRA_DIR/metrics/drill-failures.yaml"
    ensure_policy drill-failed "$INFRA_DIR/alerts/drill-failed.json"
  fi
  local i
  for i in "${!SCHEDULE_NAMES[@]}"; do
    ensure_policy "stale-${SCHEDULE_NAMES[$i]}" "$INFRA_DIR/alerts/stale-disk.json" \
      @SCHEDULE@ "${SCHEDULE_NAMES[$i]}" @STALE@ "${SCHEDULE_STALE[$i]}"
  done
  remove_legacy_metric
}

# -- the deployments ------------------------------------------------------------------------------
deploy_cloud() {
  local number agent
  say "deploying to project $HOST_PROJECT ($REGION) for ${#TARGETS[@]} target project(s)"
  say "snapshot function: waits up to READY_WAIT_SECONDS=$READY_WAIT for READY (timeout \
${SNAPSHOT_TIMEOUT}s), SNAPSHOT_CONCURRENCY=$SNAPSHOT_CONCURRENCY messages per instance \
(${SNAPSHOT_CPU} vCPU, ${SNAPSHOT_MEMORY_MIB}Mi), at most $SNAPSHOT_MAX_INSTANCES instances"
  enable_apis "$HOST_PROJECT" "${HOST_APIS[@]}"
  [[ -z $SNAPSHOT_PROJECT ]] || enable_apis "$SNAPSHOT_PROJECT" compute.googleapis.com

  ensure_service_accounts
  grant_function_roles

  ensure_topics
  read_subscriptions
  ensure_subscription "$DEAD_LETTER_SUB" "$DEAD_LETTER_TOPIC" "" 0
  # Publish rights on exactly the topics each function writes to.
  ensure_binding roles/pubsub.publisher "serviceAccount:$(sa_email "$ENUMERATOR_SA_ID")" \
    pubsub topics -- "$WORK_TOPIC" --project="$HOST_PROJECT"
  local sa
  for sa in "$ENUMERATOR_SA_ID" "$SNAPSHOT_SA_ID"; do
    ensure_binding roles/pubsub.publisher "serviceAccount:$(sa_email "$sa")" \
      pubsub topics -- "$DEAD_LETTER_TOPIC" --project="$HOST_PROJECT"
  done

  deploy_function "$ENUMERATOR_FN" enumerator enumerate_disks "$TICKS_TOPIC" \
    "$ENUMERATOR_SA_ID" --timeout="${ENUMERATOR_TIMEOUT}s" --memory="${ENUMERATOR_MEMORY_MIB}Mi" \
    --max-instances="$ENUMERATOR_MAX_INSTANCES"
  deploy_function "$SNAPSHOT_FN" snapshot snapshot_disk "$WORK_TOPIC" \
    "$SNAPSHOT_SA_ID" --timeout="${SNAPSHOT_TIMEOUT}s" --memory="${SNAPSHOT_MEMORY_MIB}Mi" \
    --cpu="$SNAPSHOT_CPU" --concurrency="$SNAPSHOT_CONCURRENCY" \
    --max-instances="$SNAPSHOT_MAX_INSTANCES" -- "${SNAPSHOT_FUNCTION_ENV[@]}"

  # Pub/Sub forwards dead letters as its service agent: it must publish to the
  # dead-letter topic and subscribe to (ack on) the source subscriptions.
  read_into_out projects describe "$HOST_PROJECT" --format='value(projectNumber)'
  number=${OUT:-PROJECT_NUMBER}
  agent="serviceAccount:service-$number@gcp-sa-pubsub.iam.gserviceaccount.com"
  ensure_binding roles/pubsub.publisher "$agent" pubsub topics -- "$DEAD_LETTER_TOPIC" \
    --project="$HOST_PROJECT"
  # Pub/Sub signs the push's identity token as the trigger account; projects made before
  # April 2021 need this grant, given on that one account rather than project-wide.
  ensure_binding roles/iam.serviceAccountTokenCreator "$agent" iam service-accounts -- \
    "$(sa_email "$TRIGGER_SA_ID")" --project="$HOST_PROJECT"
  read_subscriptions
  local fn subscription ack
  for fn in "$ENUMERATOR_FN" "$SNAPSHOT_FN"; do
    ack=$ENUMERATOR_ACK
    [[ $fn != "$SNAPSHOT_FN" ]] || ack=$SNAPSHOT_ACK
    trigger_subscription "$fn"
    subscription=$OUT
    ensure_trigger_subscription "$subscription" "$ack"
    ensure_binding roles/pubsub.subscriber "$agent" pubsub subscriptions -- "$subscription" \
      --project="$HOST_PROJECT"
    ensure_invoker "$fn"
  done

  ensure_scheduler_jobs
  ensure_monitoring
}

setup_local_env() { # the endpoints were checked with the config (local_endpoints)
  export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB="http://$PUBSUB_EMULATOR_HOST/"
  if [[ -z ${CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER:-} && -n ${CLOUD_SCHEDULER_EMULATOR_HOST:-} ]]; then
    export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER="http://$CLOUD_SCHEDULER_EMULATOR_HOST/"
  fi
  # Local endpoints take any token; a config directory of its own keeps the user's
  # accounts and settings out of it.
  export CLOUDSDK_AUTH_ACCESS_TOKEN=${CLOUDSDK_AUTH_ACCESS_TOKEN:-snapkeeper-local}
  export CLOUDSDK_CORE_DISABLE_PROMPTS=1
  export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1
  if [[ -z ${CLOUDSDK_CONFIG:-} ]]; then
    export CLOUDSDK_CONFIG=$WORK_DIR/gcloud-config
    mkdir -p "$CLOUDSDK_CONFIG"
  fi
}

# The local stack's topology: the same topics and subscriptions as the cloud, with the
# two push subscriptions pointing at the functions served by functions-framework (in the
# cloud, Eventarc makes those).
deploy_local() {
  say "deploying the local topology of $HOST_PROJECT to the Pub/Sub emulator at $PUBSUB_EMULATOR_HOST"
  say "snapshot function: READY_WAIT_SECONDS=$READY_WAIT, covered by the ack deadline of \
$WORK_SUB (SNAPSHOT_CONCURRENCY and the timeout apply in the cloud only)"
  ensure_topics
  read_subscriptions
  ensure_subscription "$DEAD_LETTER_SUB" "$DEAD_LETTER_TOPIC" "" 0
  ensure_subscription "$TICKS_SUB" "$TICKS_TOPIC" "$ENUMERATOR_URL" 1
  # functions-framework has no timeout, but the snapshot function still waits up to
  # READY_WAIT_SECONDS: its push must not be redelivered meanwhile, as in the cloud.
  ensure_subscription "$WORK_SUB" "$WORK_TOPIC" "$SNAPSHOT_URL" 1 "$LOCAL_SNAPSHOT_ACK"
  if [[ -n ${CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER:-} ]]; then
    ensure_scheduler_jobs
  else
    say "note: no local Cloud Scheduler (CLOUD_SCHEDULER_EMULATOR_HOST): jobs skipped"
  fi
}

# -- teardown -------------------------------------------------------------------------------------
delete_if_exists() { # delete_if_exists DESCRIBE_ARGS... -- DELETE_ARGS...
  local describe=()
  while [[ $1 != -- ]]; do describe+=("$1"); shift; done
  shift
  if ((DRY_RUN)) || describe_into_out "${describe[@]}" --format='value(name)'; then
    change "$@"
  fi
}

confirm_teardown() {
  ((ASSUME_YES || DRY_RUN)) && return 0
  local target="project $HOST_PROJECT" what="functions, roles, service accounts, alerts"
  if ((LOCAL)); then target="the local stack ($HOST_PROJECT)" what="subscriptions"; fi
  printf 'This deletes snapkeeper from %s: Scheduler jobs, %s, topics and the dead-letter\nsubscription with any dead letters in it. Snapshots are never deleted.\nType the host project id to go on: ' \
    "$target" "$what" >&2
  local answer=""
  read -r answer || true
  [[ $answer == "$HOST_PROJECT" ]] || die "teardown cancelled"
}

teardown() {
  confirm_teardown
  local where=(--project="$HOST_PROJECT") i job fn sub topic
  if ((!LOCAL)) || [[ -n ${CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER:-} ]]; then
    local jobs=()
    for i in "${!SCHEDULE_NAMES[@]}"; do jobs+=("$JOB_PREFIX${SCHEDULE_NAMES[$i]}"); done
    [[ -z $DRILL_CRON ]] || jobs+=("${JOB_PREFIX}restore-drill")
    for job in ${jobs[@]+"${jobs[@]}"}; do
      delete_if_exists scheduler jobs describe "$job" --location="$SCHEDULER_LOCATION" "${where[@]}" \
        -- scheduler jobs delete "$job" --location="$SCHEDULER_LOCATION" "${where[@]}"
    done
  fi
  if ((!LOCAL)); then
    for fn in "$ENUMERATOR_FN" "$SNAPSHOT_FN"; do # their Eventarc triggers go with them
      delete_if_exists functions describe "$fn" --gen2 --region="$REGION" "${where[@]}" \
        -- functions delete "$fn" --gen2 --region="$REGION" "${where[@]}"
    done
  else
    for sub in "$TICKS_SUB" "$WORK_SUB"; do
      delete_if_exists pubsub subscriptions describe "$sub" "${where[@]}" \
        -- pubsub subscriptions delete "$sub" "${where[@]}"
    done
  fi
  delete_if_exists pubsub subscriptions describe "$DEAD_LETTER_SUB" "${where[@]}" \
    -- pubsub subscriptions delete "$DEAD_LETTER_SUB" "${where[@]}"
  for topic in "$TICKS_TOPIC" "$WORK_TOPIC" "$DEAD_LETTER_TOPIC"; do
    delete_if_exists pubsub topics describe "$topic" "${where[@]}" \
      -- pubsub topics delete "$topic" "${where[@]}"
  done
  ((LOCAL)) && return 0

  local name row
  read_into_out alpha monitoring policies list "${where[@]}" \
    --format='value(name,userLabels.snapkeeper_policy)'
  while IFS=$'\t' read -r name row; do
    [[ -n ${row:-} ]] && change alpha monitoring policies delete "$name" "${where[@]}"
  done <<<"$OUT"
  local metrics=("$READY_METRIC" "$ERRORS_METRIC")
  [[ -z $DRILL_CRON ]] || metrics+=("$DRILLS_METRIC" "$DRILL_FAILURES_METRIC")
  for name in "${metrics[@]}"; do
    delete_if_exists logging metrics describe "$name" "${where[@]}" \
      -- logging metrics delete "$name" "${where[@]}"
  done
  remove_legacy_metric # a deployment made before the metric's rename
  remove_hierarchy_roles
  local project projects=("${ROLE_PROJECTS[@]}")
  if [[ -n $SCRATCH_PROJECT ]] && ! in_lines "$SCRATCH_PROJECT" "$(printf '%s\n' "${projects[@]}")"; then
    projects+=("$SCRATCH_PROJECT")
  fi
  for project in "${projects[@]}"; do
    # Deleting the role voids its bindings; the binding lines go so policies stay tidy.
    local pairs=()
    in_lines "$project" "$(printf '%s\n' "${ROLE_PROJECTS[@]}")" &&
      pairs+=("$SNAPSHOT_ROLE:$SNAPSHOT_SA_ID" "$ENUMERATOR_ROLE:$ENUMERATOR_SA_ID")
    [[ $project == "$SCRATCH_PROJECT" ]] && pairs+=("$DRILL_ROLE:$SNAPSHOT_SA_ID")
    for row in "${pairs[@]}"; do
      describe_into_out projects get-iam-policy "$project" --flatten='bindings[].members' \
        --format='csv[no-heading](bindings.role,bindings.members)' || true
      local binding
      binding="projects/$project/roles/${row%%:*},serviceAccount:$(sa_email "${row#*:}")"
      if ((DRY_RUN)) || in_lines "$binding" "$OUT"; then
        change projects remove-iam-policy-binding "$project" --role="${binding%%,*}" \
          --member="${binding#*,}" --condition=None
      fi
      delete_if_exists iam roles describe "${row%%:*}" --project="$project" \
        -- iam roles delete "${row%%:*}" --project="$project"
    done
  done
  for name in "$ENUMERATOR_SA_ID" "$SNAPSHOT_SA_ID" "$TRIGGER_SA_ID"; do
    delete_if_exists iam service-accounts describe "$(sa_email "$name")" "${where[@]}" \
      -- iam service-accounts delete "$(sa_email "$name")" "${where[@]}"
  done
}

main() {
  parse_args "$@"
  find_python
  if ((LOCAL)); then local_endpoints; fi
  load_config "$CONFIG_FILE"
  set_policy_flags
  WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/snapkeeper-deploy.XXXXXX")
  if ((DRY_RUN)); then
    say "dry run: staged files (function sources, rendered policies) are kept in $WORK_DIR"
  else
    trap 'rm -rf -- "$WORK_DIR"' EXIT
  fi
  command -v gcloud >/dev/null || ((DRY_RUN)) || die "gcloud is not on PATH"
  if ((LOCAL)); then setup_local_env; fi
  if ((TEARDOWN)); then
    teardown
  elif ((LOCAL)); then
    deploy_local
  else
    deploy_cloud
  fi
  if ((DRY_RUN)); then
    say "dry run: $CHANGES change(s) printed, nothing run"
  elif ((CHANGES)); then
    say "done: $CHANGES change(s)"
  else
    say "done: no changes"
  fi
}

main "$@"
