import type { LayersModel } from './tf';

/** One row of a model summary, as Keras's model.summary(show_trainable=True) prints it. */
export interface LayerSummary {
  name: string;
  type: string;
  outputShape: string;
  parameters: number;
  trainable: boolean;
}

export interface ModelSummary {
  name: string;
  layers: LayerSummary[];
  totalParameters: number;
  trainableParameters: number;
  nonTrainableParameters: number;
}

const size = (shape: (number | null)[]) =>
  shape.reduce<number>((product, dimension) => product * (dimension ?? 1), 1);

/** Summarizes a model's top-level layers, with a nested model (the base) as one row. */
export function summarizeModel(model: LayersModel): ModelSummary {
  const layers = model.layers.map((layer) => ({
    name: layer.name,
    type: layer.getClassName(),
    outputShape: JSON.stringify(layer.outputShape).replace(/null/g, 'None'),
    parameters: layer.countParams(),
    // A nested model counts as trainable when any of its weights are, as Keras shows it.
    trainable: layer.weights.length === 0 ? layer.trainable : layer.trainableWeights.length > 0,
  }));
  const trainableParameters = model.trainableWeights.reduce((sum, weight) => sum + size(weight.shape), 0);
  const totalParameters = model.countParams();
  return {
    name: model.name,
    layers,
    totalParameters,
    trainableParameters,
    nonTrainableParameters: totalParameters - trainableParameters,
  };
}

/** Formats a summary as a table with a Trainable column, followed by the parameter totals. */
export function formatSummary(summary: ModelSummary): string {
  const header = ['Layer (type)', 'Output Shape', 'Param #', 'Trainable'];
  const rows = summary.layers.map((layer) => [
    `${layer.name} (${layer.type})`,
    layer.outputShape,
    layer.parameters.toLocaleString('en-US'),
    layer.trainable ? 'Y' : 'N',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === 2 ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
      .join('  ');
  const rule = '━'.repeat(widths.reduce((sum, width) => sum + width + 2, -2));
  return [
    `Model: "${summary.name}"`,
    rule,
    line(header),
    rule,
    ...rows.map(line),
    rule,
    `Total params: ${summary.totalParameters.toLocaleString('en-US')}`,
    `Trainable params: ${summary.trainableParameters.toLocaleString('en-US')}`,
    `Non-trainable params: ${summary.nonTrainableParameters.toLocaleString('en-US')}`,
  ].join('\n');
}
