"""Brian2 ``cpp_standalone`` timings of COBA, CUBA and COBAHH (Brette et al. 2007).

Runs in a venv of its own (Brian2 needs ``numpy<2.4``; it does not import snnjax)::

    python -m venv /tmp/brian2 && /tmp/brian2/bin/pip install brian2 "numpy<2.4"
    /tmp/brian2/bin/python benchmarks/brette2007_brian2.py --out runs/brette2007_brian2.json
    python benchmarks/brette2007.py --brian2 runs/brette2007_brian2.json   # fills its column

The networks are Brian2's examples ``COBAHH.py`` and ``CUBA.py`` and the COBA network of
``snnjax.networks._brette`` written in Brian2 (4000 neurons, 80 % excitatory,
``p = 0.02`` without autapses, ``dt = 0.1`` ms, exponential Euler for COBA/COBAHH, exact
integration for CUBA), 1 s each, ``--threads`` OpenMP threads. ``sim_s`` is Brian2's
``device._last_run_time`` (the simulation loop, without code generation and compilation,
which ``total_s`` includes).
"""

import argparse
import json
import pathlib
import shutil
import tempfile
import time

import brian2 as b2
from brian2 import ms, mV, nS, pA, pF, siemens, ufarad, umetre

N_E, N_I, P = 3200, 800, 0.02


def _coba():
    eqs = """dv/dt = (gl*(El-v) + ge*(Ee-v) + gi*(Ei-v) + I)/Cm : volt (unless refractory)
             dge/dt = -ge/taue : siemens
             dgi/dt = -gi/taui : siemens"""
    ns = {"gl": 10 * nS, "El": -60 * mV, "Ee": 0 * mV, "Ei": -80 * mV, "Cm": 200 * pF,
          "I": 200 * pA, "taue": 5 * ms, "taui": 10 * ms}  # fmt: skip
    P_ = b2.NeuronGroup(N_E + N_I, eqs, threshold="v > -50*mV", reset="v = -60*mV",
                        refractory=5 * ms, method="exponential_euler", namespace=ns)  # fmt: skip
    P_.v = "-60*mV + rand() * 10*mV"
    return P_, "ge += 6*nS", "gi += 67*nS"


def _cuba():
    eqs = """dv/dt = (ge+gi-(v-El))/taum : volt (unless refractory)
             dge/dt = -ge/taue : volt
             dgi/dt = -gi/taui : volt"""
    ns = {"taum": 20 * ms, "taue": 5 * ms, "taui": 10 * ms, "El": -49 * mV}
    P_ = b2.NeuronGroup(N_E + N_I, eqs, threshold="v > -50*mV", reset="v = -60*mV",
                        refractory=5 * ms, method="exact", namespace=ns)  # fmt: skip
    P_.v = "-60*mV + rand() * 10*mV"
    return P_, "ge += (60*0.27/10)*mV", "gi += (-20*4.5/10)*mV"


def _cobahh():
    area = 20000 * umetre**2
    ns = {
        "Cm": 1 * ufarad * b2.cm**-2 * area, "gl": 5e-5 * siemens * b2.cm**-2 * area,
        "El": -60 * mV, "EK": -90 * mV, "ENa": 50 * mV,
        "g_na": 100 * b2.msiemens * b2.cm**-2 * area,
        "g_kd": 30 * b2.msiemens * b2.cm**-2 * area, "VT": -63 * mV,
        "taue": 5 * ms, "taui": 10 * ms, "Ee": 0 * mV, "Ei": -80 * mV,
    }  # fmt: skip
    eqs = """dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-g_na*(m*m*m)*h*(v-ENa)
                      -g_kd*(n*n*n*n)*(v-EK))/Cm : volt
             dm/dt = alpha_m*(1-m)-beta_m*m : 1
             dn/dt = alpha_n*(1-n)-beta_n*n : 1
             dh/dt = alpha_h*(1-h)-beta_h*h : 1
             dge/dt = -ge*(1./taue) : siemens
             dgi/dt = -gi*(1./taui) : siemens
             alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV-v+VT)/(4*mV))/ms : Hz
             beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40*mV)/(5*mV))/ms : Hz
             alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
             beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
             alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV-v+VT)/(5*mV))/ms : Hz
             beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz"""
    P_ = b2.NeuronGroup(N_E + N_I, eqs, threshold="v > -20*mV", refractory=3 * ms,
                        method="exponential_euler", namespace=ns)  # fmt: skip
    P_.v = "El + (randn() * 5 - 5)*mV"
    P_.ge = "(randn() * 1.5 + 4) * 10.*nS"
    P_.gi = "(randn() * 12 + 20) * 10.*nS"
    return P_, "ge += 6*nS", "gi += 67*nS"


CASES = {"coba": _coba, "cuba": _cuba, "cobahh": _cobahh}


def run(case: str, threads: int, simtime_ms: float, seed: int) -> dict:
    """One network in a fresh ``cpp_standalone`` project: times, rates, synapses."""
    workdir = tempfile.mkdtemp(prefix=f"brian2_{case}_")
    b2.device.reinit()
    b2.device.activate()
    b2.set_device("cpp_standalone", directory=workdir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads
    b2.defaultclock.dt = 0.1 * ms
    b2.seed(seed)
    group, on_e, on_i = CASES[case]()
    ce = b2.Synapses(group[:N_E], group, on_pre=on_e)
    ci = b2.Synapses(group[N_E:], group, on_pre=on_i)
    ce.connect("i != j", p=P)  # no autapses (indices: the E subgroup starts at 0)
    ci.connect("i + 3200 != j", p=P)
    spikes = b2.SpikeMonitor(group)
    b2.run(simtime_ms * ms)
    tic = time.perf_counter()
    b2.device.build(directory=workdir, compile=True, run=True)
    total = time.perf_counter() - tic
    counts = spikes.count[:]
    out = {
        "case": case, "threads": threads, "simtime_ms": simtime_ms, "n_neurons": N_E + N_I,
        "n_synapses": int(len(ce) + len(ci)), "sim_s": float(b2.device._last_run_time),
        "total_s": total, "rates_hz": {"E": float(counts[:N_E].mean() / (simtime_ms / 1e3)),
                                       "I": float(counts[N_E:].mean() / (simtime_ms / 1e3))},
        "brian2": b2.__version__,
    }  # fmt: skip
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="coba,cuba,cobahh")
    p.add_argument("--threads", type=int, default=2, help="OpenMP threads")
    p.add_argument("--simtime", type=float, default=1000.0, help="ms")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/brette2007_brian2.json"))
    a = p.parse_args(argv)
    rows = []
    for case in a.cases.split(","):
        if case not in CASES:
            p.error(f"--cases: unknown case {case!r}; valid: {', '.join(CASES)}")
        r = run(case, a.threads, a.simtime, a.seed)
        rows.append(r)
        print(f"{case}: sim {r['sim_s']:.3f} s (with code generation and compilation "
              f"{r['total_s']:.1f} s), {r['n_synapses']} synapses, rates E "
              f"{r['rates_hz']['E']:.2f} I {r['rates_hz']['I']:.2f} Hz", flush=True)  # fmt: skip
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {a.out}")
    return rows


if __name__ == "__main__":
    main()
