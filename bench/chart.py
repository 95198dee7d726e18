"""Clustered bar charts for the benchmark report (gnuplot, log scale):
one cluster per row, one bar per column. Shared by run.py and echo.py."""
import os
import shutil
import subprocess


def bars(png, title, ylabel, columns, rows, size="1400,700", rotate=False):
    """rows: [(label, {column: value})]; a missing or non-positive value is
    left out. Returns whether the PNG was written."""
    if not shutil.which("gnuplot") or not rows:
        return False
    data = os.path.join(os.path.dirname(os.path.abspath(png)), ".bench_chart.dat")
    with open(data, "w") as f:
        f.write("row " + " ".join(columns) + "\n")
        for label, vals in rows:
            f.write('"%s" %s\n' % (label, " ".join(("%.6g" % vals[c]) if vals.get(c, 0) > 0 else "NaN"
                                                 for c in columns)))
    script = """
set terminal pngcairo size %s noenhanced font ',10'
set output '%s'
set title '%s'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set logscale y
set ylabel '%s'
%s
set key outside right
plot for [i=2:%d] '%s' using i:xtic(1) title columnheader(i)
""" % (size, png, title, ylabel, "set xtics rotate by -30" if rotate else "", len(columns) + 1, data)
    r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run(["gnuplot"], input=script.replace("pngcairo", "png"), capture_output=True, text=True)
    os.remove(data)
    return r.returncode == 0
