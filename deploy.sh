#!/usr/bin/env bash
# deploy.sh: deploy snapkeeper to Google Cloud (or its Pub/Sub and Scheduler parts to the
# local stack) from one config file. Every step reads the current state first and only
# creates or updates what differs, so a second run changes nothing.
#
#   ./deploy.sh --config FILE [--dry-run]             deploy to Google Cloud
#   ./deploy.sh --config FILE --local [--enumerator-url URL --snapshot-url URL]
#   ./deploy.sh --config FILE --teardown [--yes] [--local]
#
# See infra/snapkeeper.example.env for the config keys and README.md ("Deploy").
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
EOF
}

# -- fixed names (the functions, the CLI and the local stack use the same ones) -----------
readonly TICKS_TOPIC=snapkeeper-ticks
readonly WORK_TOPIC=snapkeeper-work
readonly DEAD_LETTER_TOPIC=snapkeeper-dead-letter
readonly DEAD_LETTER_SUB=snapkeeper-dead-letter-sub
readonly TICKS_SUB=snapkeeper-ticks-enumerator # --local only: Eventarc owns it in the cloud
readonly WORK_SUB=snapkeeper-work-snapshot     # --local only
readonly ENUMERATOR_FN=snapkeeper-enumerator
readonly SNAPSHOT_FN=snapkeeper-snapshot
readonly ENUMERATOR_SA_ID=snapkeeper-enumerator
readonly SNAPSHOT_SA_ID=snapkeeper-snapshot
readonly TRIGGER_SA_ID=snapkeeper-trigger # Eventarc pushes to the functions as this one
readonly ENUMERATOR_ROLE=snapkeeperEnumerator
readonly SNAPSHOT_ROLE=snapkeeperSnapshot
readonly READY_METRIC=snapkeeper_snapshots_ready # what the stale-disk alerts watch
# Its predecessor (action="created"), removed once the alerts read the new one, and only
# when its description shows deploy.sh made it.
readonly LEGACY_CREATED_METRIC=snapkeeper_snapshots_created
readonly MANAGED_MARK="Managed by deploy.sh ("
readonly ERRORS_METRIC=snapkeeper_function_errors
readonly JOB_PREFIX=snapkeeper-
readonly RUNTIME=python312
readonly RATE_LIMIT_SECONDS=600 # one snapshot per disk per 10 minutes
readonly EVENT_TIMEOUT_MAX=540  # the longest an event-driven function may run
readonly ACK_DEADLINE_MAX=600   # Pub/Sub's longest ack deadline
# The snapshot function follows its snapshot to READY for READY_WAIT_SECONDS, then asks
# for redelivery; its timeout adds this margin for the insert, pruning and the log line.
readonly READY_WAIT_MARGIN=60
readonly ENUMERATOR_TIMEOUT=540 ENUMERATOR_MEMORY_MIB=512 ENUMERATOR_MAX_INSTANCES=10
# Waiting is I/O, so one instance serves SNAPSHOT_CONCURRENCY messages at once. Cloud Run
# allows a concurrency above 1 only with at least 1 vCPU, and 1 vCPU takes 512 MiB to
# 4 GiB of memory (512 MiB is also the floor of the second-generation environment).
readonly SNAPSHOT_CPU=1 SNAPSHOT_MEMORY_MIB=512
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
declare -A CFG=()
SCHEDULE_LINES=()
readonly CONFIG_KEYS=" HOST_PROJECT REGION SCHEDULER_LOCATION TARGET_PROJECTS \
MAX_DELIVERY_ATTEMPTS MIN_RETRY_DELAY MAX_RETRY_DELAY SNAPSHOT_PROJECT \
DEFAULT_STORAGE_LOCATION LABEL_PREFIX PRUNE_ORPHANS SNAPSHOT_MAX_INSTANCES \
NOTIFICATION_CHANNELS ACK_DEADLINE_SECONDS READY_WAIT_SECONDS SNAPSHOT_CONCURRENCY "

trim() {
  local s=$1
  s=${s#"${s%%[![:space:]]*}"}
  s=${s%"${s##*[![:space:]]}"}
  printf '%s' "$s"
}

# KEY=VALUE lines read as data: nothing in the file is ever evaluated.
load_config() {
  local file=$1 line key value n=0
  [[ -f $file && -r $file ]] || die "cannot read the config file: $file"
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=$(trim "${line%$'\r'}")
    [[ -z $line || $line == '#'* ]] && continue
    [[ $line == *=* ]] || die "$file:$n: expected KEY=VALUE"
    key=$(trim "${line%%=*}")
    value=$(trim "${line#*=}")
    if [[ ${#value} -ge 2 && ( ($value == \"*\" && $value == *\") || ($value == \'*\' && $value == *\') ) ]]; then
      value=${value:1:${#value}-2}
    fi
    if [[ $key == SCHEDULE ]]; then
      SCHEDULE_LINES+=("$value")
    elif [[ $key =~ ^[A-Z_]+$ && $CONFIG_KEYS == *" $key "* ]]; then
      [[ -z ${CFG[$key]+set} ]] || die "$file:$n: $key is set twice"
      CFG[$key]=$value
    else
      die "$file:$n: unknown key '$key'"
    fi
  done <"$file"
}

readonly RE_PROJECT='^[a-z][-a-z0-9]{4,28}[a-z0-9]$'
readonly RE_REGION='^[a-z]+(-[a-z]+)+[0-9]+$'
readonly RE_LOCATION='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
readonly RE_LABEL_PREFIX='^[a-z][a-z0-9_-]{0,40}$'
readonly RE_INT='^[0-9]{1,6}$'
readonly RE_SECONDS='^([0-9]{1,6})s?$'
readonly RE_SCHEDULE_NAME='^[a-z][a-z0-9]{0,19}$'
readonly RE_CRON_FIELD='^[0-9A-Za-z*/,?#-]+$'
readonly RE_TIME_ZONE='^[A-Za-z][A-Za-z0-9_+/-]{0,63}$'
readonly RE_STALE='^[1-9][0-9]{0,4}[mhd]$'
readonly RE_CHANNEL='^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/notificationChannels/[0-9]+$'
readonly RE_URL='^https?://[A-Za-z0-9.:_/%-]+$'
readonly RE_HOST_PORT='^[A-Za-z0-9.-]+:[0-9]{1,5}$'

# Validated settings (set by validate_config).
HOST_PROJECT="" REGION="" SCHEDULER_LOCATION="" SNAPSHOT_PROJECT="" STORAGE_LOCATION=""
LABEL_PREFIX="" PRUNE_ORPHANS="" MAX_ATTEMPTS=0 MIN_DELAY=0 MAX_DELAY=0 ACK_DEADLINE=0
SNAPSHOT_MAX_INSTANCES=0 CHANNELS_JSON="[]"
READY_WAIT=0 SNAPSHOT_TIMEOUT=0 SNAPSHOT_CONCURRENCY=0
TARGETS=()
ROLE_PROJECTS=() # every project a function role is defined and granted in
SCHEDULE_NAMES=() SCHEDULE_CRONS=() SCHEDULE_ZONES=() SCHEDULE_STALE=()

setting() { printf '%s' "${CFG[$1]:-${2:-}}"; }

check() { # check NAME VALUE REGEX
  [[ $2 =~ $3 ]] || die "config: $1 '$2' is not valid (expected $3)"
}

int_setting() { # int_setting KEY DEFAULT LOW HIGH -> the value, base 10
  local raw
  raw=$(setting "$1" "$2")
  [[ $raw =~ $RE_INT ]] || die "config: $1 '$raw' is not a number"
  ((10#$raw >= $3 && 10#$raw <= $4)) || die "config: $1 must be between $3 and $4"
  printf '%d' "$((10#$raw))"
}

seconds_setting() { # seconds_setting KEY DEFAULT LOW HIGH -> seconds
  local raw
  raw=$(setting "$1" "$2")
  [[ $raw =~ $RE_SECONDS ]] || die "config: $1 '$raw' is not a duration in seconds (e.g. 10s)"
  local value=$((10#${BASH_REMATCH[1]}))
  ((value >= $3 && value <= $4)) || die "config: $1 must be between $3s and $4s"
  printf '%d' "$value"
}

# READY_WAIT_SECONDS: how long the snapshot function follows a snapshot to READY. Its
# timeout is that plus READY_WAIT_MARGIN, which must fit the event-driven maximum.
ready_wait_setting() {
  local raw value
  raw=$(setting READY_WAIT_SECONDS 420)
  [[ $raw =~ $RE_INT ]] || die "config: READY_WAIT_SECONDS '$raw' is not a number of seconds"
  value=$((10#$raw))
  local most=$((EVENT_TIMEOUT_MAX - READY_WAIT_MARGIN))
  ((value >= 10)) || die "config: READY_WAIT_SECONDS must be between 10 and $most"
  ((value + READY_WAIT_MARGIN <= EVENT_TIMEOUT_MAX)) ||
    die "config: READY_WAIT_SECONDS=$value does not fit the snapshot function's timeout: \
${value}s + ${READY_WAIT_MARGIN}s margin is above ${EVENT_TIMEOUT_MAX}s, the longest an event-driven \
function may run (READY_WAIT_SECONDS must be between 10 and $most)"
  printf '%d' "$value"
}

# Cloud Run's rules for one instance: a concurrency above 1 needs at least 1 vCPU, and
# 1 vCPU takes 512 MiB to 4 GiB of memory.
check_instance_size() { # check_instance_size CPU MEMORY_MIB CONCURRENCY
  if (($3 > 1 && $1 < 1)); then
    die "config: SNAPSHOT_CONCURRENCY=$3 needs at least 1 vCPU per instance (has $1)"
  fi
  if (($1 == 1 && ($2 < 512 || $2 > 4096))); then
    die "the snapshot function's ${2}Mi does not go with 1 vCPU (512Mi to 4Gi)"
  fi
  return 0
}

# The ack deadline of a push subscription: a push waits that long for the function's
# answer, so at least the function's timeout (and FLOOR), at most Pub/Sub's maximum.
ack_deadline_for() { # ack_deadline_for TIMEOUT_SECONDS [FLOOR]
  local want=$1
  ((want >= ${2:-0})) || want=$2
  ((want <= ACK_DEADLINE_MAX)) || want=$ACK_DEADLINE_MAX
  printf '%d' "$want"
}

# A stale window for the alert from the cron when the config gives none: the period of
# the schedule plus slack for a late or retried run.
default_stale() {
  local -a f
  read -r -a f <<<"$1"
  if [[ ${f[2]} != '*' ]]; then
    printf '32d'
  elif [[ ${f[4]} != '*' ]]; then
    printf '8d'
  elif [[ ${f[1]} == '*' || ${f[1]} == *[/,-]* ]]; then
    printf '3h'
  else
    printf '26h'
  fi
}

validate_config() {
  HOST_PROJECT=$(setting HOST_PROJECT)
  check HOST_PROJECT "$HOST_PROJECT" "$RE_PROJECT"
  REGION=$(setting REGION)
  check REGION "$REGION" "$RE_REGION"
  SCHEDULER_LOCATION=$(setting SCHEDULER_LOCATION "$REGION")
  check SCHEDULER_LOCATION "$SCHEDULER_LOCATION" "$RE_REGION"

  local project seen=" "
  IFS=',' read -r -a TARGETS <<<"$(setting TARGET_PROJECTS)"
  local -a cleaned=()
  for project in "${TARGETS[@]}"; do
    project=$(trim "$project")
    [[ -n $project ]] || continue
    check TARGET_PROJECTS "$project" "$RE_PROJECT"
    [[ $seen == *" $project "* ]] || cleaned+=("$project")
    seen+="$project "
  done
  ((${#cleaned[@]})) || die "config: TARGET_PROJECTS lists no project"
  TARGETS=("${cleaned[@]}")
  ROLE_PROJECTS=("${TARGETS[@]}")

  SNAPSHOT_PROJECT=$(setting SNAPSHOT_PROJECT)
  if [[ -n $SNAPSHOT_PROJECT ]]; then
    check SNAPSHOT_PROJECT "$SNAPSHOT_PROJECT" "$RE_PROJECT"
    [[ $seen == *" $SNAPSHOT_PROJECT "* ]] || ROLE_PROJECTS+=("$SNAPSHOT_PROJECT")
  fi
  STORAGE_LOCATION=$(setting DEFAULT_STORAGE_LOCATION)
  [[ -z $STORAGE_LOCATION ]] || check DEFAULT_STORAGE_LOCATION "$STORAGE_LOCATION" "$RE_LOCATION"
  LABEL_PREFIX=$(setting LABEL_PREFIX snapshot-)
  check LABEL_PREFIX "$LABEL_PREFIX" "$RE_LABEL_PREFIX"
  PRUNE_ORPHANS=$(setting PRUNE_ORPHANS false)
  [[ $PRUNE_ORPHANS == true || $PRUNE_ORPHANS == false ]] ||
    die "config: PRUNE_ORPHANS must be true or false"

  MAX_ATTEMPTS=$(int_setting MAX_DELIVERY_ATTEMPTS 10 5 100) # Pub/Sub's range
  MIN_DELAY=$(seconds_setting MIN_RETRY_DELAY 10 0 600)
  MAX_DELAY=$(seconds_setting MAX_RETRY_DELAY 600 0 600)
  ((MIN_DELAY <= MAX_DELAY)) || die "config: MIN_RETRY_DELAY is above MAX_RETRY_DELAY"
  ACK_DEADLINE=$(int_setting ACK_DEADLINE_SECONDS 60 10 600)
  SNAPSHOT_MAX_INSTANCES=$(int_setting SNAPSHOT_MAX_INSTANCES 50 1 1000)
  READY_WAIT=$(ready_wait_setting)
  SNAPSHOT_TIMEOUT=$((READY_WAIT + READY_WAIT_MARGIN))
  SNAPSHOT_CONCURRENCY=$(int_setting SNAPSHOT_CONCURRENCY 20 1 1000)
  check_instance_size "$SNAPSHOT_CPU" "$SNAPSHOT_MEMORY_MIB" "$SNAPSHOT_CONCURRENCY"

  local channel channels=()
  IFS=',' read -r -a channels <<<"$(setting NOTIFICATION_CHANNELS)"
  CHANNELS_JSON=""
  for channel in "${channels[@]}"; do
    channel=$(trim "$channel")
    [[ -n $channel ]] || continue
    check NOTIFICATION_CHANNELS "$channel" "$RE_CHANNEL"
    CHANNELS_JSON+="${CHANNELS_JSON:+, }\"$channel\""
  done
  CHANNELS_JSON="[$CHANNELS_JSON]"

  # The local stack may run without Scheduler jobs (its tests publish ticks themselves).
  ((${#SCHEDULE_LINES[@]} || LOCAL)) || die "config: no SCHEDULE line (name|cron|time zone)"
  local line name cron zone stale names=" " parts=() fields=()
  for line in ${SCHEDULE_LINES[@]+"${SCHEDULE_LINES[@]}"}; do
    IFS='|' read -r -a parts <<<"$line"
    ((${#parts[@]} == 3 || ${#parts[@]} == 4)) ||
      die "config: SCHEDULE '$line' is not name|cron|time zone[|stale after]"
    name=$(trim "${parts[0]}")
    check "SCHEDULE name" "$name" "$RE_SCHEDULE_NAME"
    case $name in exclude | location | guest | keep) die "config: schedule name '$name' is reserved" ;; esac
    [[ $names != *" $name "* ]] || die "config: schedule '$name' is listed twice"
    names+="$name "
    read -r -a fields <<<"${parts[1]}" # split on blanks; never globbed
    ((${#fields[@]} == 5)) || die "config: cron '${parts[1]}' of $name needs 5 fields"
    for cron in "${fields[@]}"; do check "cron of $name" "$cron" "$RE_CRON_FIELD"; done
    cron="${fields[*]}"
    zone=$(trim "${parts[2]}")
    check "time zone of $name" "$zone" "$RE_TIME_ZONE"
    stale=$(trim "${parts[3]:-}")
    [[ -n $stale ]] || stale=$(default_stale "$cron")
    check "stale window of $name" "$stale" "$RE_STALE"
    SCHEDULE_NAMES+=("$name")
    SCHEDULE_CRONS+=("$cron")
    SCHEDULE_ZONES+=("$zone")
    SCHEDULE_STALE+=("$stale")
  done
  check_backoff
}

# Pub/Sub's exponential backoff (doubling from the minimum, capped at the maximum) over
# all redeliveries must outlast the per-disk rate limit, or a disk snapshotted twice in
# ten minutes (two schedules firing together) is dead-lettered instead of retried.
check_backoff() {
  local total=0 delay=$MIN_DELAY i
  for ((i = 1; i < MAX_ATTEMPTS; i++)); do
    total=$((total + (delay < MAX_DELAY ? delay : MAX_DELAY)))
    delay=$((delay * 2))
    if ((delay > 100000)); then delay=100000; fi
  done
  if ((total <= RATE_LIMIT_SECONDS)); then
    local message="the retries span ${total}s: at most MAX_DELIVERY_ATTEMPTS=$MAX_ATTEMPTS with \
MIN_RETRY_DELAY=${MIN_DELAY}s..MAX_RETRY_DELAY=${MAX_DELAY}s does not outlast the \
${RATE_LIMIT_SECONDS}s per-disk snapshot rate limit"
    if ((LOCAL)); then say "note: $message (fine for the local stack)"; else die "config: $message"; fi
  fi
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

ensure_role() { # ensure_role PROJECT ROLE_ID FILE
  local project=$1 role=$2 file=$3 want title
  want=$(role_permissions "$file")
  title=$(role_title "$file")
  if describe_into_out iam roles describe "$role" --project="$project" \
    --format='value(deleted.yesno(yes=deleted,no=live),title,includedPermissions.list(separator=","))'; then
    local deleted have_title have_perms
    IFS=$'\t' read -r deleted have_title have_perms <<<"$OUT"
    if [[ $deleted == deleted ]]; then
      change iam roles undelete "$role" --project="$project"
    fi
    have_perms=$(tr ',' '\n' <<<"$have_perms" | LC_ALL=C sort | paste -sd, -)
    if [[ $deleted == deleted || $have_perms != "$want" || $have_title != "$title" ]]; then
      change iam roles update "$role" --project="$project" --file="$file"
    fi
  else
    change iam roles create "$role" --project="$project" --file="$file"
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
  [[ ${group[*]} == projects ]] && extra=(--condition=None) # projects may hold conditions
  if describe_into_out "${group[@]}" get-iam-policy "$@" --flatten='bindings[].members' \
    --format='csv[no-heading](bindings.role,bindings.members)' &&
    in_lines "$role,$member" "$OUT"; then
    return 0
  fi
  change "${group[@]}" add-iam-policy-binding "$@" --role="$role" --member="$member" "${extra[@]}"
}

grant_function_roles() {
  local project
  for project in "${TARGETS[@]}"; do
    ensure_role "$project" "$ENUMERATOR_ROLE" "$INFRA_DIR/roles/enumerator.yaml"
    ensure_binding "projects/$project/roles/$ENUMERATOR_ROLE" \
      "serviceAccount:$(sa_email "$ENUMERATOR_SA_ID")" projects -- "$project"
  done
  for project in "${ROLE_PROJECTS[@]}"; do
    ensure_role "$project" "$SNAPSHOT_ROLE" "$INFRA_DIR/roles/snapshot.yaml"
    ensure_binding "projects/$project/roles/$SNAPSHOT_ROLE" \
      "serviceAccount:$(sa_email "$SNAPSHOT_SA_ID")" projects -- "$project"
  done
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
ensure_trigger_subscription() { # ensure_trigger_subscription SUBSCRIPTION TIMEOUT_SECONDS
  local name=$1 ack want have="" row flags=()
  ack=$(ack_deadline_for "$2")
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

# write_env_file FILE [KEY VALUE]...: a function's environment as YAML (values are
# validated: no quotes); the pairs are settings of that function alone.
write_env_file() {
  local file=$1
  shift
  {
    printf "GOOGLE_CLOUD_PROJECT: '%s'\n" "$HOST_PROJECT"
    printf "TARGET_PROJECTS: '%s'\n" "$(IFS=,; printf '%s' "${TARGETS[*]}")"
    printf "TICK_TOPIC: '%s'\n" "$TICKS_TOPIC"
    printf "WORK_TOPIC: '%s'\n" "$WORK_TOPIC"
    printf "DEAD_LETTER_TOPIC: '%s'\n" "$DEAD_LETTER_TOPIC"
    printf "DEAD_LETTER_SUBSCRIPTION: '%s'\n" "$DEAD_LETTER_SUB"
    printf "LABEL_PREFIX: '%s'\n" "$LABEL_PREFIX"
    printf "MAX_DELIVERY_ATTEMPTS: '%s'\n" "$MAX_ATTEMPTS"
    printf "PRUNE_ORPHANS: '%s'\n" "$PRUNE_ORPHANS"
    printf "SCHEDULER_LOCATION: '%s'\n" "$SCHEDULER_LOCATION"
    [[ -z $SNAPSHOT_PROJECT ]] || printf "SNAPSHOT_PROJECT: '%s'\n" "$SNAPSHOT_PROJECT"
    [[ -z $STORAGE_LOCATION ]] || printf "DEFAULT_STORAGE_LOCATION: '%s'\n" "$STORAGE_LOCATION"
    while (($# >= 2)); do
      printf "%s: '%s'\n" "$1" "$2"
      shift 2
    done
  } >"$file"
}

# deploy_function NAME DIR ENTRY_POINT TOPIC SA_ID SIZE_FLAG... [-- ENV_KEY ENV_VALUE...]
# The size flags are the instance's (timeout, memory, cpu, concurrency, max instances);
# the pairs go to this function's environment only.
# Redeployed only when the source or a setting changed: the digest of both is kept in a
# label of the function and compared first.
deploy_function() {
  local name=$1 dir=$2 entry=$3 topic=$4 sa_id=$5 size=()
  shift 5
  while (($#)) && [[ $1 != -- ]]; do size+=("$1"); shift; done
  (($# == 0)) || shift
  local src=$WORK_DIR/source-$name env_file=$WORK_DIR/env-$name.yaml
  stage_source "$dir" "$src"
  write_env_file "$env_file" "$@"
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
tick_payload() { # tick_payload INDEX: the message each tick of that schedule publishes
  printf '{"schedule": "%s", "cron": "%s", "time_zone": "%s"}' \
    "${SCHEDULE_NAMES[$1]}" "${SCHEDULE_CRONS[$1]}" "${SCHEDULE_ZONES[$1]}"
}

ensure_scheduler_jobs() {
  local where=(--location="$SCHEDULER_LOCATION" --project="$HOST_PROJECT")
  read_into_out scheduler jobs list "${where[@]}" \
    --format='value(name.basename(),schedule,timeZone,pubsubTarget.topicName,pubsubTarget.data)'
  local jobs=$OUT i job payload want have row wanted=" "
  for i in "${!SCHEDULE_NAMES[@]}"; do
    job=$JOB_PREFIX${SCHEDULE_NAMES[$i]}
    wanted+="$job "
    payload=$(tick_payload "$i")
    want="$job"$'\t'"${SCHEDULE_CRONS[$i]}"$'\t'"${SCHEDULE_ZONES[$i]}"$'\t'"$(topic_path "$TICKS_TOPIC")"$'\t'"$(printf '%s' "$payload" | base64_line)"
    have=""
    while IFS= read -r row; do [[ ${row%%$'\t'*} == "$job" ]] && have=$row; done <<<"$jobs"
    local settings=(--schedule="${SCHEDULE_CRONS[$i]}" --time-zone="${SCHEDULE_ZONES[$i]}"
      --topic="$TICKS_TOPIC" --message-body="$payload")
    if [[ -z $have ]]; then
      change scheduler jobs create pubsub "$job" "${where[@]}" "${settings[@]}" \
        --description="snapkeeper: tick of schedule ${SCHEDULE_NAMES[$i]} (deploy.sh)"
    elif [[ $have != "$want" ]]; then
      change scheduler jobs update pubsub "$job" "${where[@]}" "${settings[@]}"
    fi
  done
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
    --max-instances="$SNAPSHOT_MAX_INSTANCES" -- READY_WAIT_SECONDS "$READY_WAIT"

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
  local fn subscription timeout
  for fn in "$ENUMERATOR_FN" "$SNAPSHOT_FN"; do
    timeout=$ENUMERATOR_TIMEOUT
    [[ $fn != "$SNAPSHOT_FN" ]] || timeout=$SNAPSHOT_TIMEOUT
    trigger_subscription "$fn"
    subscription=$OUT
    ensure_trigger_subscription "$subscription" "$timeout"
    ensure_binding roles/pubsub.subscriber "$agent" pubsub subscriptions -- "$subscription" \
      --project="$HOST_PROJECT"
    ensure_invoker "$fn"
  done

  ensure_scheduler_jobs
  ensure_monitoring
}

setup_local_env() {
  [[ -n ${PUBSUB_EMULATOR_HOST:-} ]] || die "--local needs PUBSUB_EMULATOR_HOST (host:port)"
  check PUBSUB_EMULATOR_HOST "$PUBSUB_EMULATOR_HOST" "$RE_HOST_PORT"
  export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB="http://$PUBSUB_EMULATOR_HOST/"
  if [[ -z ${CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER:-} && -n ${CLOUD_SCHEDULER_EMULATOR_HOST:-} ]]; then
    check CLOUD_SCHEDULER_EMULATOR_HOST "$CLOUD_SCHEDULER_EMULATOR_HOST" "$RE_HOST_PORT"
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
  if ((!TEARDOWN)); then
    [[ -n $ENUMERATOR_URL ]] || die "--local needs --enumerator-url (or ENUMERATOR_URL)"
    [[ -n $SNAPSHOT_URL ]] || die "--local needs --snapshot-url (or SNAPSHOT_URL)"
    check ENUMERATOR_URL "$ENUMERATOR_URL" "$RE_URL"
    check SNAPSHOT_URL "$SNAPSHOT_URL" "$RE_URL"
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
  ensure_subscription "$WORK_SUB" "$WORK_TOPIC" "$SNAPSHOT_URL" 1 \
    "$(ack_deadline_for "$SNAPSHOT_TIMEOUT" "$ACK_DEADLINE")"
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
    for i in "${!SCHEDULE_NAMES[@]}"; do
      job=$JOB_PREFIX${SCHEDULE_NAMES[$i]}
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
  for name in "$READY_METRIC" "$ERRORS_METRIC"; do
    delete_if_exists logging metrics describe "$name" "${where[@]}" \
      -- logging metrics delete "$name" "${where[@]}"
  done
  remove_legacy_metric # a deployment made before the metric's rename
  local project
  for project in "${ROLE_PROJECTS[@]}"; do
    # Deleting the role voids its bindings; the binding lines go so policies stay tidy.
    local pairs=("$SNAPSHOT_ROLE:$SNAPSHOT_SA_ID")
    in_lines "$project" "$(printf '%s\n' "${TARGETS[@]}")" &&
      pairs+=("$ENUMERATOR_ROLE:$ENUMERATOR_SA_ID") # not in a vault-only project
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
  load_config "$CONFIG_FILE"
  validate_config
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
