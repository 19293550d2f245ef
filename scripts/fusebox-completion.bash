# Bash completion for the fusebox command.
#
# Load it with `source scripts/fusebox-completion.bash`, or install it as
# /usr/share/bash-completion/completions/fusebox (or
# ~/.local/share/bash-completion/completions/fusebox).
# Completes commands, each command's options, breaker names (read from
# `fusebox status --json` of the state file the command line names) and
# files where a command takes one.

_fusebox_commands="run status events metrics open close disable enable reset check explain serve fsck gc sync systemd-dropin help"

# _fusebox_options COMMAND: prints the options COMMAND accepts.
_fusebox_options() {
    local common="-h --help -s --state"
    case $1 in
    run) echo "$common -r --rules" ;;
    status) echo "$common -j --json -w --watch -V --verify -a --all" ;;
    events) echo "$common -f --follow -j --json -S --since" ;;
    metrics | close | disable | enable | fsck) echo "$common" ;;
    open) echo "$common -f --for -F --fleet -R --redis -N --namespace" ;;
    sync) echo "$common -R --redis -N --namespace -H --host-id -r --rules" ;;
    reset) echo "$common -a --all -R --recreate" ;;
    check) echo "-h --help" ;;
    explain) echo "$common -r --rules" ;;
    gc) echo "$common -r --rules -i --idle" ;;
    serve) echo "$common -l --listen -c --allow-control -T --token-file -p --port-file -t --timeout -r --rules" ;;
    systemd-dropin) echo "$common -r --rules" ;;
    esac
}

# _fusebox_breakers FUSEBOX WORDS...: prints the names of the breakers in the
# state file that WORDS select with -s/--state (else the default one).
_fusebox_breakers() {
    local fusebox=$1 state=() i
    shift
    for ((i = 1; i <= $#; i++)); do
        case ${!i} in
        -s | --state) i=$((i + 1)) && state=(--state "${!i}") ;;
        --state=*) state=("${!i}") ;;
        esac
    done
    "$fusebox" status --json "${state[@]}" 2>/dev/null |
        grep -o '"name": "[^"]*"' | sed 's/^"name": "//; s/"$//'
}

_fusebox() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local fusebox=${COMP_WORDS[0]} command=${COMP_WORDS[1]:-} i
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        mapfile -t COMPREPLY < <(compgen -W "$_fusebox_commands --help --version" -- "$cur")
        return
    fi
    # After `run ... --`, complete the program to run and then its files.
    if [ "$command" = run ]; then
        for ((i = 2; i < COMP_CWORD; i++)); do
            if [ "${COMP_WORDS[i]}" = -- ]; then
                if [ $((i + 1)) -eq "$COMP_CWORD" ]; then
                    mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
                else
                    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                fi
                return
            fi
        done
    fi
    case "$command:$prev" in
    *:-s | *:--state | *:-r | *:--rules | *:-p | *:--port-file | *:-T | *:--token-file)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return
        ;;
    events:-f | reset:-R) ;; # --follow and --recreate take no value
    *:-f | *:--for | *:-S | *:--since | *:-l | *:--listen | *:-R | *:--redis | *:-N | \
        *:--namespace | *:-H | *:--host-id | *:-i | *:--idle | *:-t | *:--timeout)
        return # a duration, an address, a URL or a name: nothing to offer
        ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_fusebox_options "$command")" -- "$cur")
        return
    fi
    case $command in
    help) [ "$COMP_CWORD" -eq 2 ] &&
        mapfile -t COMPREPLY < <(compgen -W "$_fusebox_commands" -- "$cur") ;;
    open | close | disable | enable | reset)
        mapfile -t COMPREPLY < <(compgen -W "$(_fusebox_breakers "$fusebox" "${COMP_WORDS[@]:2}")" \
            -- "$cur") ;;
    check) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    esac
}

complete -F _fusebox fusebox
