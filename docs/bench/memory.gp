set terminal pngcairo size 1100,540 font 'DejaVu Sans,11' noenhanced
set output 'docs/bench/memory.png'
set title "VMM memory overhead (1 vCPU, 128 MiB guest)\nAMD EPYC (2 CPUs online, 2445 MHz), kvm kvm_pvm, 2026-11-24 11:12 UTC\nringfold 0.1.0 (git a747360), QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3); make bench BUILD=build" font ',10'
set datafile separator tab
set datafile missing '?'
set style data histograms
set style histogram errorbars gap 2 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical Left reverse
set grid ytics
set ylabel 'median, bars: min–max (lower is better)'
set xtics nomirror
set arrow from graph 0, first 5 to graph 1, first 5 nohead dt 2 lw 1.5 lc rgb '#d62728'
set label "Firecracker's promise: 5 MiB" at graph 0.01, first 5 left offset 0,0.7 tc rgb '#d62728' front
set yrange [0:*]
plot 'docs/bench/memory.dat' using 2:3:4:xtic(1) title 'ringfold kvm' lc rgb '#1f77b4', 'docs/bench/memory.dat' using 5:6:7 title 'QEMU kvm' lc rgb '#ff7f0e', 'docs/bench/memory.dat' using 8:9:10 title 'QEMU microvm kvm' lc rgb '#ffbb78', 'docs/bench/memory.dat' using 11:12:13 title 'QEMU TCG' lc rgb '#2ca02c', 'docs/bench/memory.dat' using 14:15:16 title 'QEMU microvm TCG' lc rgb '#98df8a', 'docs/bench/memory.dat' using 17:18:19 title 'ringfold soft' lc rgb '#9467bd'
