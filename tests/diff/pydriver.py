"""Runs scenarios (see LANGUAGE.md) on CPython's asyncio with a virtual
clock and prints their traces. Where 3.12/3.13 changed behaviour and this
interpreter is older, the 3.12/3.13 algorithm is used: wait_for is a timeout
scope around an await (3.12), as_completed hands back the original tasks
(3.13's _AsCompletedIterator), gather sees children that are done already
at once (3.12)."""
import asyncio
import heapq
import os
import sys as _sys
_sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prims313 as P  # noqa: E402
import itertools
import selectors
import sys


class Err(Exception):
    def __init__(self, n):
        super().__init__(n)
        self.n = n


class VirtualSelector(selectors.DefaultSelector):
    """Never sleeps: a wait of `timeout` moves the clock instead."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def select(self, timeout=None):
        events = super().select(0)
        if not events:
            if timeout is None:
                raise RuntimeError("deadlock: nothing to wait for")
            self.clock[0] += timeout
        return events


class SeqTimerHandle(asyncio.TimerHandle):
    """CPython orders its timer heap by deadline only, so equal deadlines
    pop in heap order; the spec (section 8) wants the order they were set
    in, which corio keeps. Break ties by a sequence number."""
    __slots__ = ("_seq",)

    def __lt__(self, other):
        return (self._when, self._seq) < (other._when, other._seq)


def new_loop():
    clock = [0.0]
    loop = asyncio.SelectorEventLoop(VirtualSelector(clock))
    loop.time = lambda: clock[0]
    loop._clock_resolution = 1e-9  # CPython's on Linux (time.get_clock_info), as corio's
    seq = itertools.count()

    def call_at(when, callback, *args, context=None):
        timer = SeqTimerHandle(when, callback, args, loop, context)
        timer._seq = next(seq)
        heapq.heappush(loop._scheduled, timer)
        timer._scheduled = True
        return timer
    loop.call_at = call_at
    return loop


def fmt(o):
    if isinstance(o, list):
        return "[" + ",".join(fmt(x) for x in o) + "]"
    if isinstance(o, BaseException):
        return outcome_of_exc(o)
    return str(o)


class OrderedTaskGroup(asyncio.TaskGroup):
    """asyncio.TaskGroup aborts its tasks in set order, which asyncio leaves
    undefined; corio aborts in creation order. Pin Python to that order so
    the traces can be compared (the semantics are otherwise untouched)."""

    def __init__(self, order):
        super().__init__()
        self._order = order

    def _abort(self):
        self._aborting = True
        for t in sorted(self._tasks, key=self._order.index):
            if not t.done():
                t.cancel()


def outcome_of_exc(e):
    if isinstance(e, asyncio.CancelledError):
        return "CANCELLED"
    if isinstance(e, (TimeoutError, asyncio.TimeoutError)):
        return "TIMEOUT"
    if isinstance(e, Err):
        return "E%d" % e.n
    if isinstance(e, BaseExceptionGroup):
        return "group[" + ",".join(outcome_of_exc(x) for x in e.exceptions) + "]"
    raise e


class Scenario:
    def __init__(self, name, defs, steps):
        self.name, self.defs, self.steps = name, defs, steps
        self.out = []
        self.tasks = {}      # label -> task
        self.order = []      # labels in creation order
        self.gathers = {}
        self.counts = {}
        self.labels = {}     # future -> label
        self.prims = {}      # name -> primitive
        self.held = {}       # label -> primitives held
        self.order_tasks = []  # tasks in creation order

    def log(self, s):
        self.out.append("t=%.3f %s" % (self.loop.time(), s))

    def new_label(self, d):
        k = self.counts.get(d, 0) + 1
        self.counts[d] = k
        return d if k == 1 else "%s#%d" % (d, k)

    def register(self, label, task):
        self.tasks[label] = task
        self.order.append(label)
        self.labels[task] = label
        self.order_tasks.append(task)

    async def child(self, label, ops):
        self.log("%s: start" % label)
        self.held[label] = []  # what it holds, released if it is cancelled (async with)
        for op in ops:
            w = op.split()
            try:
                if w[0] == "sleep":
                    await asyncio.sleep(float(w[1]))
                elif w[0] == "sleepc":
                    try:
                        await asyncio.sleep(float(w[1]))
                    except asyncio.CancelledError:
                        self.log("%s: caught" % label)
                elif w[0] == "yield":
                    await asyncio.sleep(0)
                elif w[0] == "return":
                    self.log("%s: return %s" % (label, w[1]))
                    return int(w[1])
                elif w[0] == "fail":
                    self.log("%s: fail %s" % (label, w[1]))
                    raise Err(int(w[1]))
                elif w[0] == "await":
                    try:
                        await self.tasks[w[1]]
                    except BaseException as e:
                        self.log("%s: await %s -> %s" % (label, w[1], outcome_of_exc(e)))
                        raise
                elif w[0] == "cancel":
                    self.tasks[w[1]].cancel()
                else:
                    r = await self.prim_op(label, w)
                    if r is not None:
                        return r
            except asyncio.CancelledError:
                for o in reversed(self.held[label]):
                    try:
                        o.release()
                    except (RuntimeError, ValueError):
                        pass
                self.held[label] = []
                self.log("%s: cancelled" % label)
                raise
        return 0

    async def prim_op(self, label, w):
        op, name = w[0], w[1]
        o = self.prims[name]
        if op == "acquire":
            await o.acquire()
            self.held[label].append(o)
            self.log("%s: acquired %s" % (label, name))
        elif op == "release":
            try:
                o.release()
                if o in self.held[label]:
                    self.held[label].remove(o)
                self.log("%s: released %s" % (label, name))
            except (RuntimeError, ValueError):
                self.log("%s: release %s -> ERROR" % (label, name))
        elif op == "eset":
            o.set()
        elif op == "eclear":
            o.clear()
        elif op == "ewait":
            await o.wait()
            self.log("%s: event %s" % (label, name))
        elif op == "cwait":
            try:
                await o.wait()
                self.log("%s: notified %s" % (label, name))
            except RuntimeError:
                self.log("%s: cwait %s -> ERROR" % (label, name))
        elif op in ("notify", "notifyall"):
            try:
                o.notify(int(w[2])) if op == "notify" else o.notify_all()
            except RuntimeError:
                self.log("%s: %s %s -> ERROR" % (label, op, name))
        elif op == "bwait":
            try:
                self.log("%s: barrier %s -> %d" % (label, name, await o.wait()))
            except P.BrokenBarrierError:
                self.log("%s: barrier %s -> BROKEN" % (label, name))
        elif op == "breset":
            await o.reset()
        elif op == "babort":
            await o.abort()
        elif op == "put":
            try:
                await o.put(int(w[2]))
                self.log("%s: put %s %s" % (label, name, w[2]))
            except P.QueueShutDown:
                self.log("%s: put %s %s -> SHUTDOWN" % (label, name, w[2]))
        elif op == "get":
            try:
                self.log("%s: get %s -> %d" % (label, name, await o.get()))
            except P.QueueShutDown:
                self.log("%s: get %s -> SHUTDOWN" % (label, name))
        elif op == "putnw":
            try:
                o.put_nowait(int(w[2]))
                r = "ok"
            except asyncio.QueueFull:
                r = "FULL"
            except P.QueueShutDown:
                r = "SHUTDOWN"
            self.log("%s: putnw %s %s -> %s" % (label, name, w[2], r))
        elif op == "getnw":
            try:
                r = str(o.get_nowait())
            except asyncio.QueueEmpty:
                r = "EMPTY"
            except P.QueueShutDown:
                r = "SHUTDOWN"
            self.log("%s: getnw %s -> %s" % (label, name, r))
        elif op == "done":
            try:
                o.task_done()
            except ValueError:
                self.log("%s: done %s -> ERROR" % (label, name))
        elif op == "join":
            await o.join()
            self.log("%s: joined %s" % (label, name))
        elif op == "shutdown":
            o.shutdown(len(w) > 2 and w[2] == "now")
        else:
            raise ValueError("unknown op " + op)
        return None

    def item(self, s):
        """A future for an item: a task, a gather, or a new coroutine task."""
        if s.startswith("~"):
            d = s[1:]
            label = self.new_label(d)
            return label, self.child(label, self.defs[d])
        if s in self.gathers:
            return s, self.gathers[s]
        return s, self.tasks[s]

    def ensure(self, label, aw):
        if asyncio.iscoroutine(aw):
            t = asyncio.ensure_future(aw)
            self.register(label, t)
            return t
        return aw

    def outcome_of_fut(self, f):
        if f.cancelled():
            return "CANCELLED"
        e = f.exception()
        if e is not None:
            return outcome_of_exc(e)
        return fmt(f.result())

    async def run_step(self, w):
        op = w[0]
        if op == "spawn":
            for d in w[1:]:
                label = self.new_label(d)
                self.register(label, asyncio.create_task(self.child(label, self.defs[d])))
        elif op == "sleep":
            await asyncio.sleep(float(w[1]))
        elif op == "make":
            kind, name = w[1], w[2]
            n = int(w[3]) if len(w) > 3 else 0
            self.prims[name] = {
                "lock": lambda: asyncio.Lock(), "event": lambda: asyncio.Event(),
                "sem": lambda: P.Semaphore(n), "bsem": lambda: P.BoundedSemaphore(n),
                "cond": lambda: P.Condition(), "barrier": lambda: P.Barrier(n),
                "queue": lambda: P.Queue(n), "lifo": lambda: P.LifoQueue(n),
                "prio": lambda: P.PriorityQueue(n)}[kind]()
        elif op in ("gather", "gatherwait"):
            args = w[1:]
            name = None
            if op == "gather":
                name, args = args[0], args[1:]
            re = bool(args) and args[0] == "re"
            if re:
                args = args[1:]
            aws = []
            for s in args:
                label, aw = self.item(s)
                aws.append(self.ensure(label, aw))
            g = gather_312(*aws, return_exceptions=re)
            if name:
                self.gathers[name] = g
                self.labels[g] = name
                return
            try:
                self.log("gather -> %s" % fmt(await g))
            except BaseException as e:
                self.log("gather -> %s" % outcome_of_exc(e))
                if isinstance(e, asyncio.CancelledError) and asyncio.current_task().cancelling():
                    raise
        elif op == "await":
            label, f = self.item(w[1])
            try:
                self.log("await %s -> %s" % (label, fmt(await f)))
            except BaseException as e:
                self.log("await %s -> %s" % (label, outcome_of_exc(e)))
                if isinstance(e, asyncio.CancelledError) and asyncio.current_task().cancelling():
                    raise
        elif op == "wait":
            timeout, when, rest = None, asyncio.ALL_COMPLETED, []
            for s in w[1:]:
                if s.startswith("t="):
                    timeout = float(s[2:])
                elif s in ("first", "exc", "all"):
                    when = {"first": asyncio.FIRST_COMPLETED, "exc": asyncio.FIRST_EXCEPTION,
                            "all": asyncio.ALL_COMPLETED}[s]
                else:
                    rest.append(s)
            fs = [self.item(s)[1] for s in rest]
            done, pending = await asyncio.wait(fs, timeout=timeout, return_when=when)
            self.log("wait -> done=[%s] pending=[%s]" % (
                ",".join(sorted(self.labels[f] for f in done)),
                ",".join(sorted(self.labels[f] for f in pending))))
        elif op == "drain":
            pending = {self.item(s)[1] for s in w[1:]}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                self.log("drain -> [%s]" % ",".join(sorted(self.labels[f] for f in done)))
        elif op == "ascompleted":
            timeout, rest = None, []
            for s in w[1:]:
                if s.startswith("t="):
                    timeout = float(s[2:])
                else:
                    rest.append(s)
            pairs = [self.item(s) for s in rest]
            it = AsCompleted313([self.ensure(l, a) for l, a in pairs], timeout)
            while it.todo_left:
                try:
                    f = await it.next()
                    self.log("next -> %s %s" % (self.labels[f], self.outcome_of_fut(f)))
                except (TimeoutError, asyncio.TimeoutError):
                    self.log("next -> TIMEOUT")
        elif op == "waitfor":
            label, aw = self.item(w[2])
            try:
                r = await wait_for_312(aw, float(w[1]))
                self.log("waitfor -> %s" % fmt(r))
            except BaseException as e:
                self.log("waitfor -> %s" % outcome_of_exc(e))
                if isinstance(e, asyncio.CancelledError) and asyncio.current_task().cancelling():
                    raise
        elif op == "timeout":
            label, f = self.item(w[2])
            f = self.ensure(label, f)
            cm = asyncio.timeout(float(w[1]))
            try:
                async with cm:
                    r = await f
                self.log("timeout -> %s expired=%d" % (fmt(r), cm.expired()))
            except BaseException as e:
                self.log("timeout -> %s expired=%d" % (outcome_of_exc(e), cm.expired()))
                if isinstance(e, asyncio.CancelledError) and asyncio.current_task().cancelling():
                    raise
        elif op == "shield":
            label, f = self.item(w[1])
            f = self.ensure(label, f)
            try:
                self.log("shield -> %s" % fmt(await asyncio.shield(f)))
            except BaseException as e:
                self.log("shield -> %s" % outcome_of_exc(e))
                if isinstance(e, asyncio.CancelledError) and asyncio.current_task().cancelling():
                    raise
        elif op == "cancel":
            f = self.item(w[1])[1]
            self.log("cancel %s -> %d" % (w[1], f.cancel()))
        elif op == "cancelat":
            target = w[2]

            def fire():
                f = self.main if target == "main" else self.item(target)[1]
                self.log("cancel %s -> %d" % (target, f.cancel()))
            self.loop.call_later(float(w[1]), fire)
        elif op == "taskgroup":
            try:
                async with OrderedTaskGroup(self.order_tasks) as tg:
                    for s in w[2:]:
                        d = s.lstrip("~")
                        label = self.new_label(d)
                        coro = self.child(label, self.defs[d])
                        try:
                            self.register(label, tg.create_task(coro))
                        except RuntimeError:  # shutting down (an eager child failed)
                            coro.close()
                            self.log("taskgroup create %s -> ERROR" % label)
                            break
                    await asyncio.sleep(float(w[1]))
                self.log("taskgroup -> ok")
            except BaseException as e:
                self.log("taskgroup -> %s" % outcome_of_exc(e))
                if isinstance(e, asyncio.CancelledError) and asyncio.current_task().cancelling():
                    raise
        elif op == "any":
            pairs = [self.item(s) for s in w[1:]]
            try:
                label, r = await any_first(self, [self.ensure(l, a) for l, a in pairs])
                self.log("any -> %s %s" % (label, fmt(r)))
            except BaseException as e:
                self.log("any -> %s" % outcome_of_exc(e))
                if isinstance(e, asyncio.CancelledError) and asyncio.current_task().cancelling():
                    raise
        else:
            raise ValueError("unknown step " + op)

    async def main_task(self):
        try:
            for w in self.steps:
                await self.run_step(w)
        except asyncio.CancelledError:
            self.log("main: CANCELLED")

    def run(self):
        self.loop = new_loop()
        if EAGER:
            self.loop.set_task_factory(asyncio.eager_task_factory)  # 3.12+
        asyncio.set_event_loop(self.loop)
        try:
            self.main = self.loop.create_task(self.main_task())
            self.loop.run_until_complete(self.main)
            for label in self.order:
                t = self.tasks[label]
                self.out.append("final %s %s" % (label, self.outcome_of_fut(t) if t.done() else "PENDING"))
            # Cancel what is left (in creation order) until all have ended:
            # a task may catch a cancel and block again.
            for _ in range(32):
                left = [self.tasks[l] for l in self.order if not self.tasks[l].done()]
                if not left:
                    break
                for t in left:
                    t.cancel()
                try:
                    self.loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
                except RuntimeError as e:
                    if "deadlock" not in str(e):
                        raise
                    self.out.append("ERROR deadlock")
            for g in self.gathers.values():  # nobody awaited them: read them, as C unrefs them
                if g.done() and not g.cancelled():
                    g.exception()
        finally:
            self.loop.close()
            asyncio.set_event_loop(None)
        return self.out


class AsCompleted313:
    """asyncio 3.13's _AsCompletedIterator (original futures handed back)."""

    def __init__(self, fs, timeout):
        loop = asyncio.get_running_loop()
        self.done = asyncio.Queue()
        self.timeout_handle = None
        todo = []
        for f in fs:
            if f not in todo:
                todo.append(f)
        for f in todo:
            f.add_done_callback(self.handle_completion)
        if todo and timeout is not None:
            self.timeout_handle = loop.call_later(timeout, self.handle_timeout)
        self.todo = todo
        self.todo_left = len(todo)

    def handle_timeout(self):
        for f in self.todo:
            f.remove_done_callback(self.handle_completion)
            self.done.put_nowait(None)
        self.todo.clear()

    def handle_completion(self, f):
        if not self.todo:
            return
        self.todo.remove(f)
        self.done.put_nowait(f)
        if not self.todo and self.timeout_handle is not None:
            self.timeout_handle.cancel()

    async def next(self):
        self.todo_left -= 1
        f = await self.done.get()
        if f is None:
            raise TimeoutError
        return f


def gather_312(*aws, return_exceptions=False):
    """asyncio 3.12's gather: a child already done when the gather is made
    is seen right after the last child is added (3.11 sees it one loop
    iteration later, through call_soon)."""
    if not aws:
        outer = asyncio.get_running_loop().create_future()
        outer.set_result([])
        return outer
    state = {"finished": 0, "outer": None}
    by_arg, children, done_now = {}, [], []

    def outcome(f):
        if f.cancelled():
            return asyncio.CancelledError("" if f._cancel_message is None else f._cancel_message)
        e = f.exception()
        return f.result() if e is None else e

    def seen(f):
        state["finished"] += 1
        outer = state["outer"]
        if outer is None or outer.done():
            if not f.cancelled():
                f.exception()
            return
        if not return_exceptions:
            if f.cancelled():
                outer.set_exception(f._make_cancelled_error())
                return
            if f.exception() is not None:
                outer.set_exception(f.exception())
                return
        if state["finished"] < len(by_arg):
            return
        results = [outcome(c) for c in children]
        if outer._cancel_requested:
            outer.set_exception(f._make_cancelled_error())
        else:
            outer.set_result(results)

    for a in aws:
        if a not in by_arg:
            f = asyncio.ensure_future(a)
            if f is not a:
                f._log_destroy_pending = False
            by_arg[a] = f
            if f.done():
                done_now.append(f)
            else:
                f.add_done_callback(seen)
        children.append(by_arg[a])
    state["outer"] = asyncio.tasks._GatheringFuture(children, loop=asyncio.get_running_loop())
    for f in done_now:
        seen(f)
    return state["outer"]


async def wait_for_312(fut, timeout):
    """asyncio 3.12's wait_for."""
    if timeout is not None and timeout <= 0:
        fut = asyncio.ensure_future(fut)
        if fut.done():
            return fut.result()
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def release(_):
            if not waiter.done():
                waiter.set_result(None)
        fut.add_done_callback(release)
        try:
            fut.cancel()
            await waiter
        finally:
            fut.remove_done_callback(release)
        try:
            return fut.result()
        except asyncio.CancelledError as exc:
            raise TimeoutError from exc
    async with asyncio.timeout(timeout):
        return await fut


async def any_first(sc, fs):
    """corio_any: first success wins; the rest are cancelled and awaited."""
    pending = set(fs)
    errors = []
    winner = None
    cancelled = False
    try:
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for f in sorted(done, key=fs.index):  # a round's done ones in input order
                if not f.cancelled() and f.exception() is None and winner is None:
                    winner = f
                elif not f.cancelled() and f.exception() is not None:
                    errors.append(f.exception())
    except asyncio.CancelledError:
        cancelled = True
    for f in fs:  # the losers are cancelled in input order
        if f in pending:
            f.cancel()
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    if winner is not None:
        return sc.labels[winner], winner.result()
    if not errors:  # all were cancelled
        raise asyncio.CancelledError
    raise BaseExceptionGroup("all awaitables failed", errors)


def parse(text):
    scenarios, cur = [], None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if raw.startswith("==="):
            cur = [raw[3:].strip(), {}, []]
            scenarios.append(cur)
        elif not line:
            continue
        elif line.startswith(">"):
            cur[2].append(line[1:].split())
        else:
            name, ops = line.split(":", 1)
            cur[1][name.strip()] = [o.strip() for o in ops.split(";") if o.strip()]
    return [Scenario(*s) for s in scenarios]


EAGER = False


def main():
    global EAGER
    args = sys.argv[1:]
    if args and args[0] == "--eager":
        EAGER = True
        args = args[1:]
    text = open(args[0]).read() if args else sys.stdin.read()
    for sc in parse(text):
        print("=== " + sc.name)
        try:
            sc.run()
        except RuntimeError as e:
            if "deadlock" not in str(e):
                raise
            sc.out.append("ERROR deadlock")
        for line in sc.out:
            print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
