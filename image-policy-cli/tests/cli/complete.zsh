# Completes one command line in an interactive zsh, as a user's TAB would,
# and appends every candidate the completion offers to a file.
#
# usage: zsh -f complete.zsh FPATH_DIR OUTFILE 'command line'
#
# The shell runs on a pseudo-terminal (zsh/zpty); `compadd` is wrapped to
# write what it adds (`compadd -O`) before adding it.
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PS1='%% '; fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "compadd() { local -a __h; builtin compadd -O __h \"\$@\"; print -rl -- \$__h >> ${(q)2}; builtin compadd \"\$@\" }"
zpty -w z "bindkey '^I' complete-word; print -r -- '@@''READY@@'"
out=
integer tries=0
wait_for() {
  while (( tries < 500 )); do
    if zpty -r -t z line; then out+=$line; [[ $out == *$1* ]] && return 0
    else (( tries++ )); sleep 0.02; fi
  done
  return 1
}
wait_for '@@READY@@' || exit 4
# Typed once the line editor is up; the candidates are written while the
# completion runs, before the line is killed (^U) and the end is marked.
sleep 0.2
zpty -w -n z "$3"$'\t'
sleep 0.5
zpty -w z $'\C-u'"print -r -- '@@''END@@'"
wait_for '@@END@@' || exit 5
zpty -d z
