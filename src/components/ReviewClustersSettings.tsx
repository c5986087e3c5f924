import React, { ChangeEvent, useState } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { CollapsableSection, Field, Input, SecretInput } from '@grafana/ui';

import { ClustersSettings, FeedbackDataSourceOptions, FeedbackdSettings, FeedbackSecureJsonData } from '../types';

type Props = DataSourcePluginOptionsEditorProps<FeedbackDataSourceOptions, FeedbackSecureJsonData>;

const INPUT_WIDTH = 60;

/**
 * The feedbackd (reviews) and clusters (embeddings) sections of the config editor, kept in their own component so
 * the rest of the editor is untouched (docs/review.md, docs/embeddings.md).
 */
export function ReviewClustersSettings({ options, onOptionsChange }: Props) {
  const { jsonData, secureJsonFields, secureJsonData } = options;
  const feedbackd = jsonData.feedbackd ?? {};
  const clusters = jsonData.clusters ?? {};
  const [open] = useState(() => ({
    feedbackd: !!feedbackd.url || !!secureJsonFields?.feedbackdToken,
    clusters: !!clusters.embeddingsUrl || !!clusters.embeddingsModel || !!secureJsonFields?.embeddingsToken,
  }));

  const set =
    <S extends 'feedbackd' | 'clusters'>(
      section: S,
      key: keyof (S extends 'feedbackd' ? FeedbackdSettings : ClustersSettings)
    ) =>
    (e: ChangeEvent<HTMLInputElement>) =>
      onOptionsChange({
        ...options,
        jsonData: { ...jsonData, [section]: { ...(jsonData[section] ?? {}), [key]: e.target.value } },
      });

  const secret = (key: 'feedbackdToken' | 'embeddingsToken', id: string, label: string, description: string) => (
    <Field label={label} description={description}>
      <SecretInput
        id={id}
        width={INPUT_WIDTH}
        placeholder="token"
        isConfigured={!!secureJsonFields?.[key]}
        value={secureJsonData?.[key] ?? ''}
        onChange={(e: ChangeEvent<HTMLInputElement>) =>
          onOptionsChange({ ...options, secureJsonData: { ...secureJsonData, [key]: e.target.value } })
        }
        onReset={() =>
          onOptionsChange({
            ...options,
            secureJsonFields: { ...secureJsonFields, [key]: false },
            secureJsonData: { ...secureJsonData, [key]: '' },
          })
        }
      />
    </Field>
  );

  return (
    <>
      <CollapsableSection label="Reviews (feedbackd)" isOpen={open.feedbackd}>
        <Field
          label="feedbackd URL"
          description="Base URL of feedbackd. Reviews recorded from the Review queue dashboard are sent to its POST /v1/reviews, with the signed-in Grafana user as reviewer (Editor role or above). Empty: reviewing is off."
        >
          <Input
            id="config-feedbackd-url"
            width={INPUT_WIDTH}
            placeholder="http://feedbackd:8787"
            value={feedbackd.url ?? ''}
            onChange={set('feedbackd', 'url')}
          />
        </Field>
        {secret(
          'feedbackdToken',
          'config-feedbackd-token',
          'feedbackd server token',
          'One of feedbackd --tokens. Stored encrypted; only sent to the backend.'
        )}
      </CollapsableSection>

      <CollapsableSection label="Clusters by meaning (embeddings)" isOpen={open.clusters}>
        <Field
          label="Embeddings URL"
          description="Base URL of an OpenAI-compatible API (POST /v1/embeddings): Ollama, vLLM, text-embeddings-inference or OpenAI. Empty: comments are grouped by words."
        >
          <Input
            id="config-embeddings-url"
            width={INPUT_WIDTH}
            placeholder="http://ollama:11434"
            value={clusters.embeddingsUrl ?? ''}
            onChange={set('clusters', 'embeddingsUrl')}
          />
        </Field>
        <Field label="Embeddings model" description="The embedding model's name, required with a URL.">
          <Input
            id="config-embeddings-model"
            width={INPUT_WIDTH}
            placeholder="nomic-embed-text"
            value={clusters.embeddingsModel ?? ''}
            onChange={set('clusters', 'embeddingsModel')}
          />
        </Field>
        {secret(
          'embeddingsToken',
          'config-embeddings-token',
          'Embeddings API key',
          'Sent as Authorization: Bearer <key> (OpenAI needs one, Ollama does not). Stored encrypted; only sent to the backend.'
        )}
      </CollapsableSection>
    </>
  );
}
