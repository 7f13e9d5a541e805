/// <reference lib="dom" />
/**
 * The console's charts, served bundled as /console/assets/console.js (see ../routes.ts): only the
 * Chart.js parts the console uses (bar, line and doughnut charts on category and linear scales).
 *
 * The page's contract (../view.ts renders it): <canvas data-chart="{type, labels, series,
 * horizontal}">, followed by a table of the same numbers. Once drawn, the canvas gets
 * data-rendered="true", data-values = the labels and series Chart.js holds, and data-total = their
 * sum, so anyone (the tests too) can compare what was drawn with the table. No inline script or
 * style: the CSP forbids both.
 */
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

interface Spec {
  type: "bar" | "line" | "doughnut";
  labels: string[];
  series: { label: string; data: number[] }[];
  horizontal?: boolean;
}

/** Colours that stay apart for colour-blind readers (Okabe–Ito), starting with the page's accent. */
const COLOURS = ["#8a1c1c", "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"];

function configFor(spec: Spec): ChartConfiguration {
  const doughnut = spec.type === "doughnut";
  const datasets = spec.series.map((s, i) => ({
    label: s.label,
    data: s.data,
    backgroundColor: doughnut ? spec.labels.map((_, j) => COLOURS[j % COLOURS.length]!) : COLOURS[i % COLOURS.length]!,
    borderColor: doughnut ? "#fff" : COLOURS[i % COLOURS.length]!,
  }));
  const stacked = spec.series.length > 1;
  return {
    type: spec.type,
    data: { labels: spec.labels, datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: spec.horizontal ? "y" : "x",
      plugins: { legend: { display: doughnut || stacked, position: "bottom" } },
      scales: doughnut
        ? {}
        : {
            x: { stacked, ticks: { precision: 0 }, beginAtZero: true },
            y: { stacked, ticks: { precision: 0 }, beginAtZero: true },
          },
    },
  } as ChartConfiguration;
}

for (const canvas of document.querySelectorAll<HTMLCanvasElement>("canvas[data-chart]")) {
  try {
    const spec = JSON.parse(canvas.dataset.chart ?? "") as Spec;
    const chart = new Chart(canvas, configFor(spec));
    const total = chart.data.datasets.reduce((sum, dataset) => sum + (dataset.data as number[]).reduce((a, b) => a + (Number(b) || 0), 0), 0);
    canvas.dataset.values = JSON.stringify({ labels: chart.data.labels, series: chart.data.datasets.map((dataset) => dataset.data) });
    canvas.dataset.total = String(total);
    canvas.dataset.rendered = "true";
  } catch (error) {
    canvas.dataset.rendered = "false";
    console.error("chart", canvas.id, error);
  }
}
