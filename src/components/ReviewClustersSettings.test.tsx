import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import { DataSourceSettings } from '@grafana/data';

import { ReviewClustersSettings } from './ReviewClustersSettings';
import { FeedbackDataSourceOptions, FeedbackSecureJsonData } from '../types';

type Settings = DataSourceSettings<FeedbackDataSourceOptions, FeedbackSecureJsonData>;

function setup(overrides: Partial<Settings> = {}) {
  const onOptionsChange = jest.fn();
  const options = {
    id: 1,
    uid: 'fb',
    orgId: 1,
    name: 'Feedback Loop',
    type: 'feedbackloop-modelfeedback-datasource',
    access: 'proxy',
    jsonData: { loki: { url: 'http://loki:3100' } },
    secureJsonFields: {},
    secureJsonData: {},
    ...overrides,
  } as unknown as Settings;
  render(<ReviewClustersSettings options={options} onOptionsChange={onOptionsChange} />);
  return { onOptionsChange, options };
}

describe('ReviewClustersSettings', () => {
  it('writes feedbackd.url into jsonData, keeping the other sections', () => {
    const { onOptionsChange } = setup({
      jsonData: { loki: { url: 'http://loki:3100' }, feedbackd: { url: 'http://a' } },
    });
    fireEvent.change(screen.getByLabelText(/^feedbackd URL/), { target: { value: 'http://feedbackd:8787' } });
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({
        jsonData: { loki: { url: 'http://loki:3100' }, feedbackd: { url: 'http://feedbackd:8787' } },
      })
    );
  });

  it('keeps the tokens in secureJsonData only', () => {
    const { onOptionsChange } = setup({
      jsonData: { feedbackd: { url: 'http://f' }, clusters: { embeddingsUrl: 'http://o' } },
    });
    fireEvent.change(screen.getByLabelText(/^feedbackd server token/), { target: { value: 'srv' } });
    let sent = onOptionsChange.mock.lastCall[0] as Settings;
    expect(sent.secureJsonData).toEqual({ feedbackdToken: 'srv' });
    expect(JSON.stringify(sent.jsonData)).not.toContain('srv');
    fireEvent.change(screen.getByLabelText(/^Embeddings API key/), { target: { value: 'sk-1' } });
    sent = onOptionsChange.mock.lastCall[0] as Settings;
    expect(sent.secureJsonData).toEqual({ embeddingsToken: 'sk-1' });
  });

  it('writes the embeddings URL and model under clusters', () => {
    const { onOptionsChange } = setup({ jsonData: { clusters: { embeddingsUrl: 'http://ollama:11434' } } });
    expect(screen.getByLabelText(/^Embeddings URL/)).toHaveValue('http://ollama:11434');
    fireEvent.change(screen.getByLabelText(/^Embeddings model/), { target: { value: 'nomic-embed-text' } });
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({
        jsonData: { clusters: { embeddingsUrl: 'http://ollama:11434', embeddingsModel: 'nomic-embed-text' } },
      })
    );
  });

  it('resets a stored token', () => {
    const { onOptionsChange } = setup({
      jsonData: { feedbackd: { url: 'http://f' } },
      secureJsonFields: { feedbackdToken: true },
    });
    fireEvent.click(screen.getAllByRole('button', { name: /reset/i })[0]);
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({
        secureJsonFields: { feedbackdToken: false },
        secureJsonData: { feedbackdToken: '' },
      })
    );
  });
});
